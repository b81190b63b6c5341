"""Relevance training for job search: a five-grade policy and its teachers, synthetic
training data, a distilled cross-encoder reranker, a fine-tuned retrieval embedding,
and evaluation on held-out queries.

Entry points: :func:`~.experiment.run_experiment` (the whole loop, also
``examples/train_and_eval.py``), :class:`~.policy.PolicyGrader` and
:class:`~.llm_grader.LLMGrader` (teachers), :class:`~.student.StudentCrossEncoder`,
:class:`~.reranker.StudentReranker` and :func:`~.reranker.load_student_reranker`
(the pipeline's reranker). Submodules load their heavy dependencies when used.
"""
