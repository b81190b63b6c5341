"""Triton kernels of flatsearch, installed as ``flatsearch.kernels``.

Only ``@triton.jit`` code lives here, one operation per module: ``scan`` (the
fused scan) and ``topk`` (its selection by threshold: staging and the radix-select
merge). The launchers that validate, allocate and launch are in
:mod:`flatsearch.triton_scan`. Importing a kernel module decides, once, whether
it is compiled for the GPU or run by Triton's interpreter (``TRITON_INTERPRET=1``).
"""
