"""The job search as a service: one warm process behind an HTTP API and a web page.

    python -m flatsearch.jobsearch serve [--host 127.0.0.1] [--port 8080] [--cache-dir DIR]

Endpoints (FastAPI on uvicorn; every error is a JSON object ``{"detail": "..."}`` saying
what was wrong, never a traceback):

=============================  ==================================================================
``GET /search``                ``q`` (required), ``member``, ``k`` (1-1000, default 10), ``now``
                               (ISO 8601), ``drop`` (repeatable: a filter phrase to leave out),
                               ``refine`` (repeatable: a suggestion as JSON, added as a filter);
                               answers exactly the ``--json`` object of ``examples/job_search.py``
``POST /search``               the same fields as a JSON body
``GET /members``               the sample members: ``[{"id", "name", "title", "location"}]``
``GET /healthz``               200 ``{"status": "ready", "postings": n}`` once the index and the
                               model are loaded; 503 ``{"status": "loading"}`` before
``POST /admin/postings``       ``{"postings": [posting, ...]}`` in the schema of
                               :mod:`~flatsearch.jobsearch.corpus`: added, or replaced by id
``POST /admin/postings/remove``  ``{"ids": [id, ...]}``: removed
``GET /``                      the search page
=============================  ==================================================================

Queries longer than ``MAX_QUERY_CHARS`` characters are cut to that length (a note in the
plan says so), not rejected. The server binds to loopback by default; the admin endpoints
change the index, so expose the port only to those who may. Identical searches that
arrive while one is being answered wait for that answer instead of computing it again.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations of the local models at run time.
import asyncio
import contextlib
import datetime as dt
import json
import logging
import pathlib
import threading
from typing import Any, Callable

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1000
PAGE = pathlib.Path(__file__).with_name("web") / "index.html"


class EngineHolder:
    """Builds the :class:`~flatsearch.jobsearch.pipeline.JobSearch` in a background thread, so the server answers
    ``/healthz`` (loading) at once and searches as soon as the index and the model are loaded."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self.engine = None
        self.error: str | None = None
        self.ready = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._load, name="load-job-search", daemon=True).start()

    def _load(self) -> None:
        try:
            engine = self.factory()
            # The model and the planner's tables load here, not in the first users' searches; an engine that wraps a
            # JobSearch without its warm_up still loads the model.
            warm_up = getattr(engine, "warm_up", None)
            if warm_up is not None:
                warm_up()
            else:
                engine.encoder.encode_query("warm up")
            self.engine = engine
        except Exception as error:  # noqa: BLE001 - reported by /healthz and every request
            logger.exception("the job search failed to load")
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ready.set()


class SharedSearches:
    """Single flight: concurrent requests with the same key share one computation (the first one's)."""

    def __init__(self):
        self._running: dict[Any, asyncio.Future] = {}
        self.shared = 0  # requests answered by another request's computation

    async def run(self, key, compute: Callable[[], Any]):
        running = self._running.get(key)
        if running is not None:
            self.shared += 1
            return await asyncio.shield(running)
        future = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            from starlette.concurrency import run_in_threadpool

            result = await run_in_threadpool(compute)
            future.set_result(result)
            return result
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # marks it retrieved when nobody else waits on it
            raise
        finally:
            del self._running[key]


def create_app(factory: Callable[[], Any], *, load_in_background: bool = True):
    """The FastAPI application around a JobSearch built by ``factory()``.

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> with TestClient(create_app(lambda: JobSearch())) as client:  # doctest: +SKIP
        ...     client.get("/search", params={"q": "remote data jobs", "k": 3}).json()["results"][0]["title"]
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field

    holder = EngineHolder(factory)
    shared = SharedSearches()

    class SearchRequest(BaseModel):
        q: str
        member: str | None = None
        k: int = Field(10, ge=1, le=1000)
        now: str | None = None
        drop: list[str] = []
        refine: list[dict] = []

    class PostingsRequest(BaseModel):
        postings: list[dict]

    class RemoveRequest(BaseModel):
        ids: list[int]

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if load_in_background:
            holder.start()
        else:
            holder._load()
        yield

    app = FastAPI(title="flatsearch job search", docs_url="/docs", redoc_url=None, lifespan=lifespan)
    app.state.holder, app.state.shared = holder, shared

    class RequestError(Exception):
        def __init__(self, status: int, detail: str):
            self.status, self.detail = status, detail

    @app.exception_handler(RequestError)
    async def request_error(_: Request, error: RequestError):
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError):
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body"))
            parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}" + (f", got {item['input']!r}" if "input" in item and item["input"] is not None and not isinstance(item["input"], dict) else ""))
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception):
        logger.exception("unexpected error")
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); the server log has the details"}, status_code=500)

    def engine():
        if not holder.ready.is_set():
            raise RequestError(503, "the job search is still loading its index and model; see /healthz")
        if holder.engine is None:
            raise RequestError(503, f"the job search failed to load: {holder.error}")
        return holder.engine

    async def answer(request: SearchRequest) -> dict:
        search = engine()
        query = request.q
        cut = len(query) > MAX_QUERY_CHARS
        query = query[:MAX_QUERY_CHARS]
        if request.member is not None and request.member not in {m.id for m in search.member_list()}:
            known = ", ".join(m.id for m in search.member_list())
            raise RequestError(404, f"member: unknown member {request.member!r}; known members are {known} (see /members)")
        key = (query, request.member, request.k, request.now, tuple(request.drop), json.dumps(request.refine, sort_keys=True))

        def compute() -> dict:
            response = search.search(query, member_id=request.member, k=request.k, now=request.now,
                                     drop=tuple(request.drop), refine=tuple(request.refine))
            data = response.to_dict()
            if cut:
                data["plan"]["notes"] = [*data["plan"]["notes"], f"The query was cut to its first {MAX_QUERY_CHARS} characters."]
            return data

        try:
            return await shared.run(key, compute)
        except (ValueError, TypeError, KeyError) as error:
            raise RequestError(400, str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)) from None

    @app.get("/search")
    async def search_get(request: Request):
        params = request.query_params
        refine = []
        for i, text in enumerate(params.getlist("refine")):
            try:
                refine.append(json.loads(text))
            except json.JSONDecodeError:
                raise RequestError(422, f"refine[{i}]: expected a suggestion as JSON, got {text[:80]!r}") from None
        k = params.get("k", "10")
        try:
            k = int(k)
        except ValueError:
            raise RequestError(422, f"k: expected an int from 1 to 1000, got {k[:40]!r}") from None
        if "q" not in params:
            raise RequestError(422, "q: expected the query text, e.g. /search?q=remote+data+jobs")
        try:
            body = SearchRequest(q=params["q"], member=params.get("member") or None, k=k, now=params.get("now") or None,
                                 drop=params.getlist("drop"), refine=refine)
        except ValueError as error:
            raise RequestValidationError(error.errors()) from None
        return await answer(body)

    @app.post("/search")
    async def search_post(body: SearchRequest):
        return await answer(body)

    @app.get("/members")
    async def members():
        return [{"id": m.id, "name": m.name, "title": m.title, "location": m.location} for m in engine().member_list()]

    @app.get("/healthz")
    async def healthz():
        if not holder.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        if holder.engine is None:
            return JSONResponse({"status": "failed", "error": holder.error}, status_code=503)
        return {"status": "ready", "postings": len(holder.engine.index)}

    @app.post("/admin/postings")
    async def add(body: PostingsRequest):
        from starlette.concurrency import run_in_threadpool

        from .churn import add_postings
        from .corpus import posting_from_record

        search = engine()
        now = dt.datetime.now(dt.timezone.utc)
        try:
            postings = [posting_from_record(record, where=f"postings[{i}]", default_time=now) for i, record in enumerate(body.postings)]
            ids = await run_in_threadpool(add_postings, search, postings)
        except (ValueError, TypeError) as error:
            raise RequestError(400, str(error)) from None
        return {"added": ids, "postings": len(search.index)}

    @app.post("/admin/postings/remove")
    async def remove(body: RemoveRequest):
        from starlette.concurrency import run_in_threadpool

        from .churn import remove_postings

        search = engine()
        try:
            removed = await run_in_threadpool(remove_postings, search, body.ids)
        except (ValueError, TypeError) as error:
            raise RequestError(400, str(error)) from None
        except KeyError as error:
            raise RequestError(404, str(error.args[0])) from None
        return {"removed": removed, "postings": len(search.index)}

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    return app


def serve(*, host: str = "127.0.0.1", port: int = 8080, cache_dir: str | None = None, postings: str | None = None,
          log_level: str = "info") -> None:
    """Load the job search and serve it with uvicorn until interrupted."""
    import uvicorn

    from .corpus import load_postings
    from .pipeline import JobSearch

    def factory():
        return JobSearch(corpus=load_postings(postings) if postings else None, cache_dir=cache_dir, progress=True)

    uvicorn.run(create_app(factory), host=host, port=port, log_level=log_level)
