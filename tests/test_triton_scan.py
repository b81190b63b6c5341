"""The Triton scan backend against the torch reference, run through Triton's interpreter on the CPU.

Data are small integers, so every dtype multiplies exactly, scores tie often
and the tie rule (lower slot first) must match exactly. Shapes stay tiny: the
interpreter runs each program in Python.
"""
import itertools
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports the kernels

import doctest  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton")

import flatsearch as fs  # noqa: E402
from flatsearch import triton_scan as triton_scan_module  # noqa: E402
from flatsearch.bitmask import pack_bits, unpack_bits  # noqa: E402
from flatsearch.scan import ScanRequest  # noqa: E402
from flatsearch.torch_scan import torch_scan  # noqa: E402
from flatsearch.triton_scan import (MAX_KERNEL_K, KernelConfig, decode_keys, triton_scan,  # noqa: E402
                                    triton_unavailable_reason)

pytestmark = pytest.mark.skipif(triton_unavailable_reason("cpu") is not None,
                                reason=f"Triton interpreter unavailable: {triton_unavailable_reason('cpu')}")

# (dtype, atol, rtol) for scores; integer data are exact, random floats differ in summation order.
TOLERANCES = [(torch.float32, 1e-5, 1e-5), (torch.float16, 1e-3, 1e-3), (torch.bfloat16, 1e-2, 1e-2)]
TOLERANCE = {dtype: (atol, rtol) for dtype, atol, rtol in TOLERANCES}


def make_request(seed, *, dtype=torch.float32, dim=20, arena_rows=(160,), ranges=None, nq=3, k=5,
                 pass_fraction=0.6, per_query=False, bias=False, score_scale=1.0, integer=True, empty_ranges=()):
    """A ScanRequest over small random data; mask bits only inside the ranges, as the Index builds them.

    ``ranges`` defaults to two ranges per arena, neither ending on a block boundary;
    ``empty_ranges`` lists indices of ranges whose rows all have clear bits.
    """
    generator = torch.Generator().manual_seed(seed)

    def values(*shape):
        if integer:
            return torch.randint(-3, 4, shape, generator=generator).float()
        return torch.randn(shape, generator=generator)

    arenas, arena_starts, capacity = [], [], 0
    for rows in arena_rows:
        arenas.append(values(rows, dim).to(dtype))
        arena_starts.append(capacity)
        capacity += rows
    if ranges is None:
        ranges = []
        for start, rows in zip(arena_starts, arena_rows):
            middle = rows // 64 * 32
            ranges += [[start, start + middle - 5]] if middle else []
            ranges += [[start + middle, start + rows - 3]]
    ranges = torch.tensor(ranges, dtype=torch.int64).reshape(-1, 2)
    inside = torch.zeros(capacity, dtype=torch.bool)
    for i, (start, stop) in enumerate(ranges.tolist()):
        inside[start:stop] = i not in empty_ranges
    keep = (torch.rand((nq, capacity) if per_query else (capacity,), generator=generator) < pass_fraction) & inside
    return ScanRequest(queries=values(nq, dim), k=k, arenas=tuple(arenas), arena_starts=tuple(arena_starts),
                       ranges=ranges, mask_words=pack_bits(keep),
                       bias=values(capacity) * 2 if bias else None, score_scale=score_scale)


def assert_same(result, expected, dtype):
    """Slots exactly, scores within the dtype tolerance; on failure, show the first mismatch."""
    assert result.scores.shape == expected.scores.shape, (result.scores.shape, expected.scores.shape)
    assert result.slots.dtype == torch.int64 and result.scores.dtype == torch.float32
    mismatch = (result.slots != expected.slots).nonzero()
    if len(mismatch):
        query, position = mismatch[0].tolist()
        raise AssertionError(f"slot mismatch at query {query}, rank {position}: triton "
                             f"{result.slots[query, position:position + 5].tolist()} scores "
                             f"{result.scores[query, position:position + 5].tolist()} vs torch "
                             f"{expected.slots[query, position:position + 5].tolist()} scores "
                             f"{expected.scores[query, position:position + 5].tolist()}")
    atol, rtol = TOLERANCE[dtype]
    torch.testing.assert_close(result.scores, expected.scores, atol=atol, rtol=rtol)


CASES = {
    # name: (make_request kwargs, KernelConfig or None for the default, n_splits)
    "single-query-fp32": (dict(nq=1, k=5), KernelConfig(1, 32, 16), 1),
    "fp16-scale2-bias-perquery-pad": (dict(dtype=torch.float16, dim=33, nq=3, k=40, per_query=True, bias=True,
                                           score_scale=2.0, arena_rows=(64, 160)), KernelConfig(16, 16, 16), 3),
    "bf16-dot-two-query-tiles": (dict(dtype=torch.bfloat16, dim=16, nq=17, k=100, pass_fraction=0.9,
                                      per_query=True, bias=True), KernelConfig(16, 32, 16), 2),
    "fp32-dot-arenas-splits": (dict(dim=48, nq=16, k=17, bias=True, score_scale=2.0, arena_rows=(96, 96),
                                    pass_fraction=0.3), KernelConfig(16, 64, 32), 4),
    "fp16-dot-fewer-rows-than-k": (dict(dtype=torch.float16, nq=16, k=200, arena_rows=(96,)), None, None),
    "bf16-fma-default-config": (dict(dtype=torch.bfloat16, dim=24, nq=5, k=9, bias=True), None, None),
    "empty-range-skipped": (dict(nq=2, k=12, arena_rows=(128, 64), empty_ranges=(0, 3)), KernelConfig(16, 32, 32), 2),
    "tile-wider-than-k": (dict(dtype=torch.float16, nq=4, k=3, bias=True), KernelConfig(16, 64, 16), 1),
    "many-splits": (dict(nq=1, k=7, arena_rows=(96,)), KernelConfig(1, 16, 16), 50),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_on_integer_data(name):
    options, config, n_splits = CASES[name]
    request = make_request(list(CASES).index(name), **options)
    dtype = request.arenas[0].dtype
    assert_same(triton_scan(request, config=config, n_splits=n_splits), torch_scan(request), dtype)


@pytest.mark.parametrize("dtype, atol, rtol", TOLERANCES)
def test_matches_torch_on_random_floats(dtype, atol, rtol):
    request = make_request(11, dtype=dtype, dim=40, nq=4, k=8, bias=True, integer=False, arena_rows=(96, 64))
    assert_same(triton_scan(request), torch_scan(request), dtype)


@pytest.mark.parametrize("score_scale", [1.0, 2.0])
@pytest.mark.parametrize("per_query", [False, True])
def test_scale_and_mask_shapes(score_scale, per_query):
    request = make_request(5, dtype=torch.bfloat16, nq=2, k=6, score_scale=score_scale, per_query=per_query,
                           bias=True, arena_rows=(64, 32))
    assert_same(triton_scan(request), torch_scan(request), torch.bfloat16)


def test_largest_kernel_k():
    request = make_request(7, dim=16, nq=2, k=MAX_KERNEL_K, arena_rows=(1100,), pass_fraction=0.97)
    result = triton_scan(request, config=KernelConfig(16, 64, 16), n_splits=2)
    assert_same(result, torch_scan(request), torch.float32)
    assert (result.slots >= 0).all(), "more than k rows pass, so no padding is expected"


def test_k_above_the_kernel_limit_falls_back_to_an_exact_path():
    request = make_request(8, dim=16, nq=1, k=MAX_KERNEL_K + 1, arena_rows=(1200,), pass_fraction=0.95)
    assert_same(triton_scan(request), torch_scan(request), torch.float32)


def test_mask_that_passes_nothing_gives_padding():
    request = make_request(9, nq=3, k=4, pass_fraction=0.0, per_query=True)
    result = triton_scan(request, n_splits=2)
    assert result.slots.tolist() == [[-1] * 4] * 3
    assert torch.isneginf(result.scores).all()


def test_no_ranges_gives_padding():
    request = make_request(10, nq=2, k=3, ranges=[])
    result = triton_scan(request)
    assert result.slots.tolist() == [[-1] * 3] * 2 and torch.isneginf(result.scores).all()


def test_equal_scores_come_out_lower_slot_first():
    request = make_request(12, nq=2, k=6, arena_rows=(64, 64), pass_fraction=0.5)
    arenas = tuple(torch.ones_like(arena) for arena in request.arenas)
    request = ScanRequest(**{**request.__dict__, "arenas": arenas, "bias": None})
    expected = unpack_bits(request.mask_words, 128).nonzero().flatten()[:6]
    result = triton_scan(request, config=KernelConfig(16, 16, 16), n_splits=3)
    assert result.slots.tolist() == [expected.tolist()] * 2


def test_rows_with_clear_bits_are_never_read():
    request = make_request(13, dtype=torch.float16, nq=3, k=10, arena_rows=(128,), per_query=True,
                           pass_fraction=0.05)
    passing = unpack_bits(request.mask_words, 128).any(dim=0)
    poisoned = request.arenas[0].clone()
    poisoned[~passing] = float("nan")
    result = triton_scan(ScanRequest(**{**request.__dict__, "arenas": (poisoned,)}), config=KernelConfig(16, 32, 16))
    assert_same(result, torch_scan(request), torch.float16)


def test_decode_keys_inverts_the_packing():
    scores = torch.tensor([[3.5, -0.0, 0.0, -2.25, 1e-30]])
    slots = torch.tensor([[0, 7, 2**32 - 2, 5, 123456789]])
    bits = scores.view(torch.int32).long()
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    ordered = torch.where(scores == 0, torch.zeros_like(ordered), ordered)
    keys = (ordered << 32) | (0xFFFFFFFF - slots)
    decoded = decode_keys(keys)
    from flatsearch.kernels.scan import EMPTY_SLOT
    assert triton_scan_module.EMPTY_SLOT == EMPTY_SLOT.value
    packed = triton_scan_module.pack_keys(scores, slots.to(torch.int32))  # the kernel's 32-bit slot bits
    assert torch.equal(packed, keys)
    assert decoded.slots.tolist() == slots.tolist()
    assert torch.equal(decoded.scores, scores)
    # Sorting the keys orders by score, then by the lower slot.
    order = torch.argsort(keys[0], descending=True).tolist()
    assert [slots[0, i].item() for i in order] == [0, 123456789, 7, 2**32 - 2, 5]


@pytest.mark.parametrize("k_width", [16, 128])
def test_split_lists_pack_as_pack_keys(k_width):
    """The packing kernel against pack_keys: signed zeros, infinities, the largest slot, lists empty, full and
    in between; places from a list's count on are empty keys whatever they hold."""
    generator = torch.Generator().manual_seed(k_width)
    nq, n_splits, stage = 3, 5, 2 * k_width
    scores = torch.randn((nq, n_splits, stage), generator=generator)
    scores[0, 0, :4] = torch.tensor([0.0, -0.0, float("inf"), -float("inf")])
    slots = torch.randint(0, 2**31 - 1, (nq, n_splits, stage), generator=generator, dtype=torch.int32)
    slots[1, 1, 3] = -2  # the bits of slot 2**32 - 2
    counts = torch.randint(0, k_width + 1, (nq, n_splits), generator=generator, dtype=torch.int32)
    counts[0, 0], counts[2, 4], counts[1, 1] = k_width, 0, 4
    keys = triton_scan_module.pack_split_lists(scores, slots, counts, k_width)
    listed = slots[:, :, :k_width].clone()
    listed[torch.arange(k_width)[None, None, :] >= counts[:, :, None]] = triton_scan_module.EMPTY_SLOT
    expected = triton_scan_module.pack_keys(scores[:, :, :k_width].reshape(nq, -1), listed.reshape(nq, -1))
    assert torch.equal(keys, expected)
    assert int((keys == triton_scan_module.EMPTY_KEY).sum()) == int((k_width - counts).sum())


@pytest.mark.parametrize("change, error, words", [
    (dict(k=0), ValueError, "request.k"),
    (dict(queries=torch.zeros(2, 20, dtype=torch.float64)), ValueError, "request.queries"),
    (dict(mask_words=torch.zeros(5, 7, dtype=torch.int32)), ValueError, "one per query"),
    (dict(mask_words=torch.zeros(2, dtype=torch.int32)), ValueError, "words to cover"),
    (dict(ranges=torch.tensor([[0, 170]])), ValueError, "inside one arena"),
    (dict(ranges=torch.tensor([[0, 10]], dtype=torch.int32)), ValueError, "int64"),
    (dict(arenas=(torch.zeros(96, 20), torch.zeros(64, 20, dtype=torch.float16))), TypeError, "request.arenas[1]"),
    (dict(arenas=(torch.zeros(96, 20).t().contiguous().t(), torch.zeros(64, 20))), ValueError, "contiguous"),
    (dict(bias=torch.zeros(10)), ValueError, "request.bias"),
    (dict(score_scale=float("nan")), ValueError, "score_scale"),
])
def test_bad_requests_raise_and_name_the_field(change, error, words):
    request = make_request(14, nq=2, arena_rows=(96, 64))
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        triton_scan(ScanRequest(**{**request.__dict__, **change}))


def test_bad_launch_options_raise():
    request = make_request(15, nq=1, arena_rows=(64,))
    with pytest.raises(ValueError, match="n_splits"):
        triton_scan(request, n_splits=0)
    with pytest.raises(TypeError, match="config"):
        triton_scan(request, config=(16, 32, 32))


def test_unavailable_reasons(monkeypatch):
    assert triton_unavailable_reason("cpu") is None
    assert "CUDA" in triton_unavailable_reason("meta")
    monkeypatch.delenv("TRITON_INTERPRET")
    assert "TRITON_INTERPRET=1" in triton_unavailable_reason("cpu")
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        triton_scan(make_request(17, nq=1, arena_rows=(64,)))


def test_docstring_examples():
    failures, attempted = doctest.testmod(triton_scan_module, verbose=False)
    assert attempted > 0 and failures == 0


# -- end to end through the Index ---------------------------------------------------------------------
def build_index_pair(*, metric, dtype, seed=0, n=150, dim=20, partition_by=None):
    rng = np.random.default_rng(seed)
    vectors = rng.integers(-3, 4, (n, dim)).astype(np.float32)
    if metric == "cosine":
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = rng.permutation(5 * n)[:n]
    attributes = {"city": rng.integers(0, 6, n), "pay": rng.integers(0, 4, n).astype(np.float32)}
    indexes = []
    for backend in ("triton", "torch"):
        index = fs.Index(dim, metric=metric, dtype=dtype, partition_size=64, partition_by=partition_by,
                         attributes={"city": "int", "pay": "float"}, backend=backend)
        index.add(ids, vectors, attributes)
        index.delete(ids[::7])
        indexes.append(index)
    queries = rng.integers(-3, 4, (3, dim)).astype(np.float32)
    return indexes, queries


@pytest.mark.parametrize("metric, dtype", [("ip", torch.float16), ("l2", torch.float32), ("cosine", torch.bfloat16)])
def test_index_triton_backend_matches_torch_backend(metric, dtype):
    (triton_index, torch_index), queries = build_index_pair(metric=metric, dtype=dtype, partition_by="city")
    searches = [dict(k=5), dict(k=8, filter=fs.col("city").isin([1, 4]), boost={"pay": 0.5}),
                dict(k=4, filter=[fs.col("city") == 2, None, fs.col("pay") >= 2])]
    for search in searches:
        got, expected = triton_index.search(queries, **search), torch_index.search(queries, **search)
        assert got.ids.tolist() == expected.ids.tolist(), search
        atol, rtol = TOLERANCE[dtype]
        torch.testing.assert_close(got.scores, expected.scores, atol=atol, rtol=rtol)


def test_index_triton_backend_pads_when_few_rows_pass():
    (triton_index, torch_index), queries = build_index_pair(metric="ip", dtype=torch.float32, seed=3)
    got = triton_index.search(queries[:1], 40, filter=fs.col("city") == 5)
    expected = torch_index.search(queries[:1], 40, filter=fs.col("city") == 5)
    assert got.ids.tolist() == expected.ids.tolist()
    assert (got.ids == -1).any(), "fewer than 40 rows pass, so the tail must be padded"


# -- launch planning and compilation ------------------------------------------------------------------
@pytest.mark.parametrize("n_splits", [1, 2, 7, 1000])
def test_work_tables_cover_every_range_once(n_splits):
    request = make_request(16, arena_rows=(96, 160, 64), nq=1)
    ranges = request.ranges
    tables, actual_splits, aligned = triton_scan_module._work_tables(request, ranges, n_splits)
    split_starts = tables[-(actual_splits + 1):].tolist()
    segments = tables[:split_starts[-1] * 3].reshape(-1, 3)
    covered = [slot for start, stop, _ in segments.tolist() for slot in range(start, stop)]
    assert covered == [slot for start, stop in ranges.tolist() for slot in range(start, stop)]
    assert split_starts[0] == 0 and split_starts == sorted(split_starts) and actual_splits <= n_splits
    rows = [int((segments[a:b, 1] - segments[a:b, 0]).sum()) for a, b in zip(split_starts, split_starts[1:])]
    assert max(rows) - min(rows) <= max(rows) // 2 + 1, rows
    # The kernel writes a split's counts at its last row tile: every split has one, in segments that are not empty.
    assert min(rows) >= 1 and bool((segments[:, 1] > segments[:, 0]).all())
    arena_of = np.searchsorted(np.array(request.arena_starts), segments[:, 0].numpy(), side="right") - 1
    dim = request.queries.shape[1]
    for (start, stop, offset), arena in zip(segments.tolist(), arena_of):
        base = request.arenas[0].data_ptr() + request.arenas[0].element_size() * (offset + start * dim)
        assert base == request.arenas[arena].data_ptr() + request.arenas[arena].element_size() * \
            (start - request.arena_starts[arena]) * dim


def test_tuning_candidates_fit_every_bucket():
    for nq_bucket in (1, 2, 4, 8, 16, 32, 128, 4096):
        for k_width in (16, 128, 1024):
            configs = triton_scan_module._tuning_configs(nq_bucket, k_width, 768)
            assert configs, (nq_bucket, k_width)
            # one tile height per bucket: the split count is planned before the autotuner picks
            assert len({config.kwargs["BLOCK_Q"] for config in configs}) == 1
            block_q = configs[0].kwargs["BLOCK_Q"]
            assert (block_q == 1) == (nq_bucket == 1) and (block_q == 1 or block_q >= 16)
            assert block_q == triton_scan_module._bucket_block_q(nq_bucket)
            for config in configs:
                # a whole tile always fits behind the list after the merge check
                assert k_width + config.kwargs["BLOCK_N"] <= triton_scan_module.staging_capacity(k_width)
    small = triton_scan_module._tuning_configs(1, 16, 20)
    assert all(config.kwargs["BLOCK_D"] == 32 for config in small)
    wide = triton_scan_module._tuning_configs(16, 16, 768, element_size=4)
    assert all(config.kwargs["BLOCK_D"] <= 32 for config in wide)


@pytest.mark.parametrize("version", [(3, 6), (3, 9)])
def test_every_bucket_keeps_a_tile_of_its_height_on_every_release_arch_and_dtype(monkeypatch, version):
    # A bucket left empty falls back to the autotuner's first config, a one-query tile that reads every
    # row once per query (float32 at 768 dims, 2-16 queries, lost every candidate to spill exclusions).
    monkeypatch.setattr(triton_scan_module, "_triton_version", lambda: version)
    for nq_bucket in (2, 16, 32, 128):
        for k_width in (16, 128, 1024):
            for dim, element_size, arch, gather, per_query_mask in itertools.product(
                    (384, 768, 1024), (2, 4), (80, 90), (False, True), (False, True)):
                configs = triton_scan_module._tuning_configs(nq_bucket, k_width, dim, element_size, arch=arch,
                                                             gather=gather, per_query_mask=per_query_mask)
                where = (nq_bucket, k_width, dim, element_size, arch, gather, per_query_mask)
                assert configs, where
                assert {config.kwargs["BLOCK_Q"] for config in configs} == {triton_scan_module._bucket_block_q(nq_bucket)}, where


@pytest.mark.parametrize("nq, block_q, rows, k_width, expected", [
    (1, 1, 10_000_000, 16, 528),         # 4 programs per SM, one query tile
    (128, 64, 10_000_000, 16, 66),       # two real query tiles (not eight of 16), one tl.dot block per SM
    (16, 16, 100_000, 1024, 132),        # a 1% partition-aligned filter, k=1000: one program per SM, not 6 or 48
    (1, 1, 100_000, 1024, 195),          # one query: 512-row splits, however large k
    (1, 1, 1000, 16, 1),                 # never shorter than 512 rows
    (1, 1, 10**12, 16, 528),
])
def test_split_plan(nq, block_q, rows, k_width, expected):
    assert triton_scan_module.plan_splits(sm_count=132, nq=nq, total_rows=rows, k_width=k_width,
                                          block_q=block_q) == expected


def test_split_plan_is_capped_at_the_grid_limit():
    splits = triton_scan_module.plan_splits(sm_count=100_000, nq=1, total_rows=10**12, k_width=16, block_q=1)
    assert splits == triton_scan_module.MAX_SPLITS == 65_535
    request = make_request(18, nq=1, k=3, arena_rows=(64,))
    _, actual, _ = triton_scan_module._work_tables(request, request.ranges, 10**6)
    assert actual <= 64


def test_kernel_config_rejects_tiles_the_kernel_cannot_run():
    with pytest.raises(ValueError, match="block_q"):
        KernelConfig(4, 32, 32)
    with pytest.raises(ValueError, match="block_n"):
        KernelConfig(1, 512, 32)
    with pytest.raises(ValueError, match="block_d"):
        KernelConfig(16, 32, 24)


@pytest.mark.parametrize("nq", [1, 2, 15, 16, 17])
def test_query_count_bucket_edges(nq):
    """Just under and over each query bucket: 1 (CUDA cores), 2-16 (padded to a 16-query tile), 17+."""
    request = make_request(30 + nq, dtype=torch.float16, dim=24, nq=nq, k=6, arena_rows=(64, 96), bias=True)
    assert_same(triton_scan(request, n_splits=2), torch_scan(request), torch.float16)


@pytest.mark.parametrize("nq", [64, 65])
def test_query_tile_edges(nq):
    """One 64-query tile and one more query than it holds (a second, nearly empty tile)."""
    request = make_request(80 + nq, dtype=torch.float16, dim=16, nq=nq, k=5, arena_rows=(96,), pass_fraction=0.8)
    assert_same(triton_scan(request, n_splits=2), torch_scan(request), torch.float16)


@pytest.mark.parametrize("nq, block_q", [(15, 16), (16, 16), (17, 16), (63, 64), (64, 64), (65, 64),
                                         (127, 128), (128, 128), (129, 128)])
def test_padding_query_rows_count_nothing_and_are_never_read_back(monkeypatch, nq, block_q):
    """Queries, starts and counts are padded to whole query tiles (_tile_padded): the kernel writes 0 to
    every padding query's counts (its +inf start stages nothing), only the real queries' counts reach the
    split merge, and results match the reference just under, at and over each tile height. Every
    torch.empty of the call comes back filled (int32 -7, floats NaN), so a count the kernel does not
    write, or a staging place read past its count, shows."""
    empty = torch.empty

    def filled_empty(*args, **kwargs):
        tensor = empty(*args, **kwargs)
        if tensor.dtype == torch.int32:
            tensor.fill_(-7)
        elif tensor.is_floating_point():
            tensor.fill_(float("nan"))
        return tensor

    packed = []
    pack = triton_scan_module.pack_split_lists

    def recording_pack(stage_scores, stage_slots, counts, k_width):
        packed.append((stage_scores.shape, counts))
        return pack(stage_scores, stage_slots, counts, k_width)

    monkeypatch.setattr(torch, "empty", filled_empty)
    monkeypatch.setattr(triton_scan_module, "pack_split_lists", recording_pack)
    request = make_request(900 + nq, dtype=torch.float16, dim=16, nq=nq, k=5, arena_rows=(96,), pass_fraction=0.8,
                           bias=True)
    result = triton_scan(request, config=KernelConfig(block_q, 16, 16), n_splits=2)
    monkeypatch.undo()
    assert_same(result, torch_scan(request), torch.float16)
    (stage_shape, counts), = packed
    padded = -(-nq // block_q) * block_q
    assert stage_shape[:2] == (nq, 2) and counts.shape == (nq, 2)  # staging rows and counts read: real queries only
    written = counts._base if counts._base is not None else counts
    assert written.shape == (padded, 2)
    assert bool((written[nq:] == 0).all())  # every padding row written, and 0
    assert bool(((counts >= 0) & (counts <= 16)).all()) and int(counts.sum(dim=1).min()) >= 5


@pytest.mark.parametrize("nq, block_q", [(1, 1), (3, 16)])
@pytest.mark.parametrize("passing", [15, 16, 17, 33])
def test_split_with_about_k_passing_rows(nq, block_q, passing):
    """A list of 16 takes a split's first candidates in its own places: with at most 16 passing rows
    the split never merges; with 17 or more it merges at the end, ties broken by slot."""
    base = make_request(90 + passing, dim=16, nq=nq, k=16, arena_rows=(64,), ranges=[[0, 64]], pass_fraction=1.0)
    keep = torch.zeros(64, dtype=torch.bool)
    keep[torch.randperm(64, generator=torch.Generator().manual_seed(passing))[:passing]] = True
    vectors = base.arenas[0].clone()
    vectors[::2] = vectors[1::2]  # equal rows: scores tie, the lower slot must win
    request = ScanRequest(**{**base.__dict__, "arenas": (vectors,), "mask_words": pack_bits(keep)})
    result = triton_scan(request, config=KernelConfig(block_q, 16, 16), n_splits=1)
    assert_same(result, torch_scan(request), torch.float32)
    assert int((result.slots >= 0).sum(dim=1).min()) == min(16, passing)


@pytest.mark.parametrize("k", [16, 17, 128, 129])
def test_k_bucket_edges(k):
    request = make_request(40 + k, dim=16, nq=2, k=k, arena_rows=(224, 96), pass_fraction=0.9, per_query=True)
    assert_same(triton_scan(request, n_splits=2), torch_scan(request), torch.float32)


@pytest.mark.parametrize("k", [65, 128])
def test_one_row_merges_of_a_64_query_tile(k):
    """64-query tiles with a list of 128 merge one query's row at a time (merge_rows); per-query
    mask, bias and integer scores that tie often, each split holding more than K candidates."""
    assert triton_scan_module.merge_rows(64, 128) == (1 if triton_scan_module._triton_version() >= (3, 7) else 4)
    request = make_request(140 + k, dtype=torch.float16, dim=16, nq=20, k=k, arena_rows=(224, 160), pass_fraction=0.9,
                           per_query=True, bias=True)
    assert_same(triton_scan(request, config=KernelConfig(64, 32, 16), n_splits=2), torch_scan(request), torch.float16)


@pytest.mark.parametrize("nq, dtype, k, block_q", [(1, torch.bfloat16, 5, 1), (16, torch.float32, 5, 16),
                                                   (20, torch.float16, 100, 64)])
def test_staging_fills_and_merges_mid_scan(nq, dtype, k, block_q):
    """Scores that rise with the slot: every row beats the running K-th, so the staging row fills again and again."""
    rows, dim = 1400, 16
    base = make_request(50, dtype=dtype, dim=dim, nq=nq, k=k, arena_rows=(rows,), pass_fraction=0.95)
    vectors = torch.zeros(rows, dim)
    vectors[:, 0] = torch.arange(rows) % 256  # exact in every dtype; ties every 256 rows
    vectors[:, 1] = torch.arange(rows) // 256
    queries = torch.zeros(nq, dim)
    queries[:, 0] = 1.0
    queries[:, 1] = torch.arange(nq, dtype=torch.float32) - 3  # some queries prefer early rows
    request = ScanRequest(**{**base.__dict__, "arenas": (vectors.to(dtype),), "queries": queries, "bias": None})
    config = KernelConfig(block_q, 32, 16)
    assert_same(triton_scan(request, config=config, n_splits=1), torch_scan(request), dtype)


def _as_passing_slots(request: ScanRequest, slots: int) -> ScanRequest:
    """The same scan with its shared mask given as the list of passing slots (what sends it down the gather path)."""
    passing = unpack_bits(request.mask_words, slots).nonzero().flatten()
    return ScanRequest(**{**request.__dict__, "passing_slots": passing})


@pytest.mark.parametrize("nq, dtype, k, pass_fraction, config", [
    (1, torch.float32, 5, 0.05, KernelConfig(1, 16, 16)),         # one query, several list tiles
    (3, torch.float16, 9, 0.08, KernelConfig(16, 16, 16)),        # padded to a tl.dot tile
    (17, torch.bfloat16, 40, 0.2, KernelConfig(16, 32, 16)),      # two query tiles, fewer rows than k
    (2, torch.float32, 4, 0.0, None),                             # nothing passes
])
def test_sparse_shared_filter_scans_the_passing_rows(nq, dtype, k, pass_fraction, config):
    """The gather path: the passing slots as a list, over several arenas, with bias; ids exactly as torch."""
    base = make_request(60 + nq, dtype=dtype, dim=24, nq=nq, k=k, arena_rows=(96, 160, 64),
                        pass_fraction=pass_fraction, bias=True, score_scale=2.0)
    request = _as_passing_slots(base, 320)
    assert triton_scan_module.uses_gather(request, int((request.ranges[:, 1] - request.ranges[:, 0]).sum()))
    expected = torch_scan(base)
    assert_same(triton_scan(request, config=config, n_splits=3), expected, dtype)
    assert_same(triton_scan(request, config=config, n_splits=1), expected, dtype)


def test_gather_row_offsets_follow_each_arena():
    request = make_request(70, dim=8, nq=1, k=2, arena_rows=(64, 32, 96))
    slots = torch.tensor([0, 63, 64, 95, 96, 191])
    offsets = triton_scan_module._row_offsets(request, slots)
    for slot, offset in zip(slots.tolist(), offsets.tolist()):
        arena = max(i for i, start in enumerate(request.arena_starts) if start <= slot)
        row = request.arenas[arena][slot - request.arena_starts[arena]]
        assert request.arenas[0].data_ptr() + offset * 4 == row.data_ptr()


COMPILE_SCRIPT = r"""
import json, sys
import torch
from flatsearch.triton_scan import KernelConfig, KernelVariant
sys.path.insert(0, "benchmarks")
import kernel_model
dtype, dim, k, block_q, block_n, block_d, warps, per_query, capability = json.loads(sys.argv[1])
max_registers = 255  # as the dispatch candidates
variant = KernelVariant(getattr(torch, dtype), dim, k,
                        KernelConfig(block_q, block_n, block_d, warps, 3, max_registers), per_query, True)
facts = kernel_model.compile_variant((variant, capability))
print(json.dumps({key: facts.get(key) for key in ("error", "registers", "spill_bytes")}))
"""


@pytest.mark.parametrize("case", [
    # dtype, dim, K, BLOCK_Q, BLOCK_N, BLOCK_D, warps, per-query mask, compute capability
    ("bfloat16", 768, 16, 16, 64, 64, 8, False, 90),   # tl.dot, tile wider than K
    ("float16", 200, 128, 1, 128, 64, 4, True, 80),    # one query on CUDA cores, ragged dim
])
def test_kernel_compiles_for_cuda_targets(case):
    """The interpreter does not compile; this builds real cubins for Hopper and Ampere without a GPU."""
    import json
    import subprocess
    import sys
    import triton
    if not os.path.exists(os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia")):
        pytest.skip("this Triton build has no NVIDIA backend")
    environment = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT, json.dumps(case)], env=environment, cwd=root,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    facts = json.loads(completed.stdout.strip().splitlines()[-1])
    # Spills are checked against every dispatched variant in tests/test_kernel_model.py.
    assert facts["error"] is None and 0 < facts["registers"] <= 255 and facts["spill_bytes"] >= 0, facts


# -- start thresholds from a sample ------------------------------------------------------------------
def _sample_reference(request, k, sample_rows):
    """The k-th best passing score over the launcher's strided sample, by the torch backend on that sample alone."""
    ranges = request.ranges[request.ranges[:, 1] > request.ranges[:, 0]]
    scanned = torch.cat([torch.arange(start, stop) for start, stop in ranges.tolist()])
    m = min(sample_rows, len(scanned))
    sampled = scanned[torch.arange(m) * len(scanned) // m]
    capacity = request.arena_starts[-1] + request.arenas[-1].shape[0]
    in_sample = torch.zeros(capacity, dtype=torch.bool)
    in_sample[sampled] = True
    keep = unpack_bits(request.mask_words, capacity) & in_sample
    sub = ScanRequest(**{**request.__dict__, "k": k, "mask_words": pack_bits(keep)})
    return torch_scan(sub).scores[:, k - 1]


START_CASES = [
    # make_request kwargs, sample rows
    (dict(dtype=torch.float32, nq=3, k=5), 40),
    (dict(dtype=torch.float16, nq=4, k=9, per_query=True, bias=True, score_scale=2.0, arena_rows=(96, 64)), 50),
    (dict(dtype=torch.bfloat16, nq=2, k=6, bias=True, integer=False, arena_rows=(64, 96)), 1000),
    (dict(dtype=torch.float32, nq=5, k=12, per_query=True, pass_fraction=0.1), 30),  # fewer than k pass in it
]


@pytest.mark.parametrize("options, sample_rows", START_CASES)
def test_start_thresholds_sit_just_below_the_samples_kth_score(options, sample_rows):
    request = make_request(200 + sample_rows, **options)
    k = request.k
    start = triton_scan_module.start_thresholds(request, k, request.ranges, sample_rows=sample_rows)
    kth = _sample_reference(request, k, sample_rows)
    assert start.dtype == torch.float32 and start.shape == (request.queries.shape[0],)
    finite = torch.isfinite(kth)
    assert torch.equal(torch.isfinite(start), finite), (start, kth)
    assert bool((start[finite] < kth[finite]).all()), (start, kth)
    # the safety margin is a few roundoffs of |q| |x|, not a real loosening
    assert bool((kth[finite] - start[finite] <= 1e-3 * (1 + kth[finite].abs())).all()), (start, kth)
    if options.get("pass_fraction") == 0.1:
        assert not bool(finite.all())  # the case meant to leave some query without k passing rows


def _strict_subset_sample(monkeypatch, rows_per_k=1, divisor=4):
    monkeypatch.setattr(triton_scan_module, "SAMPLE_MIN_ROWS", 0)  # tiny scans take a sample too
    monkeypatch.setattr(triton_scan_module, "SAMPLE_MIN_ROWS_MANY", 0)
    monkeypatch.setattr(triton_scan_module, "SAMPLE_MIN_PER_K", rows_per_k)
    monkeypatch.setattr(triton_scan_module, "SAMPLE_DIVISOR", divisor)
    monkeypatch.setattr(triton_scan_module, "TIGHT_START_MIN_K", 1)  # small k start from tight ranks too


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("per_query", [False, True])
def test_scan_from_a_sampled_start_is_exact(monkeypatch, dtype, metric, per_query):
    """A sample of a quarter of the rows: the start lies inside the scores, duplicated rows tie at it."""
    _strict_subset_sample(monkeypatch)
    l2 = metric == "l2"
    base = make_request(300 + 7 * per_query + 3 * l2, dtype=dtype, dim=16, nq=5, k=7, arena_rows=(160, 96),
                        pass_fraction=0.7, per_query=per_query, bias=l2, score_scale=2.0 if l2 else 1.0)
    arenas = [arena.clone() for arena in base.arenas]
    arenas[0][1::2] = arenas[0][0::2]  # equal rows in and out of the sample
    request = ScanRequest(**{**base.__dict__, "arenas": tuple(arenas)})
    start = triton_scan_module.start_thresholds(request, request.k, request.ranges)
    assert bool(torch.isfinite(start).all())
    assert_same(triton_scan(request, config=KernelConfig(16, 16, 16), n_splits=2), torch_scan(request), dtype)


@pytest.mark.parametrize("k", [16, 17, 128, 129])
def test_sampled_start_at_k_bucket_edges(monkeypatch, k):
    _strict_subset_sample(monkeypatch, divisor=2)
    request = make_request(400 + k, dtype=torch.float16, dim=16, nq=3, k=k, arena_rows=(224, 160), pass_fraction=0.9,
                           per_query=True, bias=True)
    assert_same(triton_scan(request, n_splits=2), torch_scan(request), torch.float16)


def test_short_scans_and_one_query_programs_take_no_sample(monkeypatch):
    calls = []
    monkeypatch.setattr(triton_scan_module, "start_thresholds", lambda *args, **kwargs: calls.append(1))
    request = make_request(505, dim=16, nq=3, k=5, arena_rows=(96,))
    assert_same(triton_scan(request, config=KernelConfig(16, 16, 16)), torch_scan(request), torch.float32)
    monkeypatch.setattr(triton_scan_module, "SAMPLE_MIN_ROWS", 0)
    single = make_request(506, dim=16, nq=1, k=5, arena_rows=(96,))
    assert_same(triton_scan(single, config=KernelConfig(1, 16, 16)), torch_scan(single), torch.float32)
    assert calls == []


def test_sample_with_fewer_than_k_passing_rows(monkeypatch):
    _strict_subset_sample(monkeypatch, divisor=16)
    request = make_request(500, dtype=torch.bfloat16, dim=16, nq=4, k=10, arena_rows=(160,), pass_fraction=0.3,
                           per_query=True)
    start = triton_scan_module.start_thresholds(request, request.k, request.ranges)
    assert torch.isinf(start).all() and (start < 0).all()
    assert_same(triton_scan(request, n_splits=2), torch_scan(request), torch.bfloat16)


def test_gather_path_takes_a_sampled_start(monkeypatch):
    _strict_subset_sample(monkeypatch, divisor=2)
    base = make_request(510, dtype=torch.float16, dim=24, nq=3, k=6, arena_rows=(96, 160, 64), pass_fraction=0.2,
                        bias=True, score_scale=2.0)
    request = _as_passing_slots(base, 320)
    assert_same(triton_scan(request, config=KernelConfig(16, 16, 16), n_splits=3), torch_scan(base), torch.float16)


@pytest.mark.parametrize("below", [True, False])
def test_rows_scoring_exactly_the_start_score_are_kept(monkeypatch, below):
    """The kernel keeps scores strictly above its start: started just below the exact k-th score it
    is exact, ties at that score included; started at the k-th score itself it drops them."""
    request = make_request(520, dim=16, nq=4, k=9, arena_rows=(128,), pass_fraction=0.8)
    vectors = request.arenas[0].clone()
    vectors[1::2] = vectors[0::2]
    request = ScanRequest(**{**request.__dict__, "arenas": (vectors,)})
    expected = torch_scan(request)
    kth = expected.scores[:, -1].contiguous()
    start = torch.nextafter(kth, torch.full_like(kth, float("-inf"))) if below else kth
    monkeypatch.setattr(triton_scan_module, "SAMPLE_MIN_ROWS", 0)
    monkeypatch.setattr(triton_scan_module, "start_thresholds", lambda *args, **kwargs: start)
    result = triton_scan(request, config=KernelConfig(16, 16, 16), n_splits=2)
    if below:
        assert_same(result, expected, torch.float32)
    else:
        assert not torch.equal(result.slots, expected.slots)


@pytest.mark.parametrize("nq, config", [(5, KernelConfig(16, 16, 16)), (40, None)])
def test_never_written_rows_cannot_spoil_the_sampled_start(monkeypatch, nq, config):
    """Per-query masks: the sample reads every sampled row, never-written ones too (no query's bit set).
    NaN, +inf and -inf there, in the vectors and the bias, must not reach the start or the results."""
    _strict_subset_sample(monkeypatch, divisor=2)
    base = make_request(530 + nq, dtype=torch.float16, dim=16, nq=nq, k=7, arena_rows=(160, 96), pass_fraction=0.7,
                        per_query=True, bias=True, score_scale=2.0)
    capacity = 256
    unused = torch.zeros(capacity, dtype=torch.bool)
    unused[torch.arange(capacity) % 3 == 1] = True
    keep = unpack_bits(base.mask_words, capacity) & ~unused
    arenas = [arena.clone() for arena in base.arenas]
    garbage = torch.tensor([float("nan"), float("inf"), float("-inf")])
    for arena, first in zip(arenas, base.arena_starts):
        rows = unused[first:first + arena.shape[0]].nonzero().flatten()
        arena[rows] = garbage[rows % 3][:, None].to(arena.dtype)
    bias = base.bias.clone()
    bias[unused] = garbage[torch.arange(int(unused.sum())) % 3]
    request = base.replace(arenas=tuple(arenas), bias=bias, mask_words=pack_bits(keep))
    tight, safe = triton_scan_module.start_thresholds(request, request.k, request.ranges, rank=2)
    assert bool(torch.isfinite(safe).all()) and bool(torch.isfinite(tight).all()), (tight, safe)
    expected = torch_scan(request)
    assert bool((expected.slots >= 0).all()) and bool(torch.isfinite(expected.scores).all())
    assert_same(triton_scan(request, config=config, n_splits=2), expected, torch.float16)


@pytest.mark.parametrize("k, sample_rows, total_rows", [(7, 64, 256), (40, 40, 250), (100, 300, 3000), (12, 30, 40)])
def test_tight_start_rank_bounds_the_hypergeometric_miss(k, sample_rows, total_rows):
    """The exact chance that at least the tight rank's worth of a uniform sample lies among the best k."""
    from math import comb
    rank = triton_scan_module.tight_start_rank(k, sample_rows, total_rows, 1e-3)
    assert 1 <= rank <= k
    if rank < k:
        miss = sum(comb(k, s) * comb(total_rows - k, sample_rows - s) for s in range(rank, min(k, sample_rows) + 1))
        assert miss / comb(total_rows, sample_rows) <= 1e-3, (rank, miss / comb(total_rows, sample_rows))
    assert triton_scan_module.tight_start_rank(k, total_rows, total_rows) == k


@pytest.mark.parametrize("per_query, block_q", [(False, 16), (True, 16), (False, 128)])
def test_scan_from_a_tight_start_is_exact(monkeypatch, per_query, block_q):
    """A sample of 40 of about 250 rows for k = 40: the scan starts from a rank well below k."""
    _strict_subset_sample(monkeypatch, divisor=16)
    request = make_request(540 + per_query + block_q, dtype=torch.bfloat16, dim=16, nq=6, k=40, arena_rows=(160, 96),
                           pass_fraction=1.0, per_query=per_query, bias=True, score_scale=2.0, integer=False)
    total = int((request.ranges[:, 1] - request.ranges[:, 0]).sum())
    rank = triton_scan_module.tight_start_rank(request.k, triton_scan_module.sample_size(request.k, total), total)
    assert rank <= request.k // 2, rank
    assert_same(triton_scan(request, config=KernelConfig(block_q, 16, 16), n_splits=2), torch_scan(request),
                torch.bfloat16)


def test_queries_whose_tight_start_missed_are_scanned_again(monkeypatch):
    """Started from each query's best sampled score, queries with fewer than k rows above it are scanned
    again (those only, from the safe start); the others keep their first results. Exact either way."""
    _strict_subset_sample(monkeypatch, divisor=2)
    monkeypatch.setattr(triton_scan_module, "tight_start_rank", lambda *args, **kwargs: 1)
    request = make_request(550, dim=16, nq=6, k=2, arena_rows=(128,), pass_fraction=0.8, per_query=True,
                           integer=False)
    again = []
    scan = triton_scan_module._scan

    def recording_scan(sub, **options):
        if options.get("start") is not None:  # the scan again, from the safe start; not triton_scan's own call
            again.append(sub.queries.shape[0])
            assert sub.mask_words.shape[0] == sub.queries.shape[0] == options["start"].shape[0]
            assert sub.memo is None and options.get("n_splits") == 2  # the caller's split count, not the first scan's
        return scan(sub, **options)

    monkeypatch.setattr(triton_scan_module, "_scan", recording_scan)
    assert_same(triton_scan(request, config=KernelConfig(16, 16, 16), n_splits=2), torch_scan(request), torch.float32)
    assert len(again) == 1 and 0 < again[0] < 6, again


@pytest.mark.parametrize("block_q", [1, 16])
def test_sixteen_row_tiles_starting_late_in_a_mask_word(block_q):
    """A split cut at slot 125 starts a 16-row tile at bit 29 of its word: its rows span two words."""
    request = make_request(300, dim=16, nq=5, k=7, arena_rows=(160, 96), pass_fraction=0.7)
    assert triton_scan_module._work_tables(request, request.ranges, 2)[0][6].item() == 125
    assert_same(triton_scan(request, config=KernelConfig(block_q, 16, 16), n_splits=2), torch_scan(request),
                torch.float32)


# -- 128-query tiles: staging by extraction rounds ----------------------------------------------------
def test_wide_query_tiles_stage_by_extraction():
    """128-query tiles stage each round's best winner per query (no per-element positions); the others
    stage by a running count. Every tile of a bucket and scan length has the same height."""
    assert {config.kwargs["BLOCK_Q"] for config in triton_scan_module._tuning_configs(128, 16, 384, wide=True)} == {128}
    assert {config.kwargs["BLOCK_Q"] for config in triton_scan_module._tuning_configs(128, 16, 384)} == {64}
    def first(dim=384, **options):
        return triton_scan_module.dispatch_variants(storage_dtype=torch.float16, dim=dim, k=10, has_bias=False,
                                                    **options)[0]

    variant = first(nq=128, per_query_mask=False, total_rows=10_000_000)
    assert variant.constants()["EXTRACT"] and variant.config.block_q == 128
    # fewer queries, a short scan (no start sample: a cold start stages every row) or per-query masks
    for narrow in (first(nq=64, per_query_mask=False, total_rows=10_000_000),
                   first(nq=128, per_query_mask=False, total_rows=10_000),
                   first(nq=128, per_query_mask=True, total_rows=10_000_000),
                   first(nq=128, per_query_mask=False, total_rows=10_000_000, dim=768)):
        assert not narrow.constants()["EXTRACT"] and narrow.config.block_q == 64


@pytest.mark.parametrize("dtype, metric, per_query", [
    (torch.float32, "ip", False), (torch.float32, "l2", True), (torch.float16, "l2", False),
    (torch.float16, "ip", True), (torch.bfloat16, "ip", False), (torch.bfloat16, "l2", True)])
def test_wide_tiles_from_a_sampled_start_are_exact(monkeypatch, dtype, metric, per_query):
    """130 queries (a full 128-query tile and a nearly empty one), duplicated rows tying in and out of
    the sample, the start inside the scores; l2 as its bias and scale."""
    _strict_subset_sample(monkeypatch)
    l2 = metric == "l2"
    base = make_request(600 + 7 * per_query + 3 * l2, dtype=dtype, dim=16, nq=130, k=7, arena_rows=(160, 96),
                        pass_fraction=0.7, per_query=per_query, bias=l2, score_scale=2.0 if l2 else 1.0)
    arenas = [arena.clone() for arena in base.arenas]
    arenas[0][1::2] = arenas[0][0::2]
    request = ScanRequest(**{**base.__dict__, "arenas": tuple(arenas)})
    assert bool(torch.isfinite(triton_scan_module.start_thresholds(request, request.k, request.ranges)).all())
    assert_same(triton_scan(request, config=KernelConfig(128, 32, 16), n_splits=2), torch_scan(request), dtype)


@pytest.mark.parametrize("k", [16, 17, 129])
def test_wide_tiles_at_k_bucket_edges(k):
    """Without a sample (a cold start): the first tiles stage every kept row, one round per row."""
    request = make_request(620 + k, dtype=torch.float16, dim=16, nq=128, k=k, arena_rows=(192, 96), pass_fraction=0.9,
                           per_query=True, bias=True)
    assert_same(triton_scan(request, config=KernelConfig(128, 16, 16), n_splits=2), torch_scan(request),
                torch.float16)


@pytest.mark.parametrize("dtype, k", [(torch.bfloat16, 5), (torch.float32, 100)])
def test_wide_tiles_fill_and_merge_mid_scan(dtype, k):
    """Scores that rise with the slot: every row beats the threshold, the staging rows fill again and again."""
    rows, dim, nq = 640, 16, 128
    base = make_request(630, dtype=dtype, dim=dim, nq=nq, k=k, arena_rows=(rows,), pass_fraction=0.95)
    vectors = torch.zeros(rows, dim)
    vectors[:, 0] = torch.arange(rows) % 256
    vectors[:, 1] = torch.arange(rows) // 256
    queries = torch.zeros(nq, dim)
    queries[:, 0] = 1.0
    queries[:, 1] = torch.arange(nq, dtype=torch.float32) % 9 - 3
    request = ScanRequest(**{**base.__dict__, "arenas": (vectors.to(dtype),), "queries": queries, "bias": None})
    assert_same(triton_scan(request, config=KernelConfig(128, 32, 16), n_splits=1), torch_scan(request), dtype)


def test_wide_tiles_on_the_gather_path(monkeypatch):
    _strict_subset_sample(monkeypatch, divisor=2)
    base = make_request(640, dtype=torch.float16, dim=24, nq=128, k=6, arena_rows=(96, 160, 64), pass_fraction=0.2,
                        bias=True, score_scale=2.0)
    request = _as_passing_slots(base, 320)
    expected = torch_scan(base)
    assert_same(triton_scan(request, config=KernelConfig(128, 16, 16), n_splits=3), expected, torch.float16)
    assert_same(triton_scan(request, n_splits=1), expected, torch.float16)  # default: 64-query tiles (a short scan)


@pytest.mark.parametrize("passing", [16, 17, 33])
def test_wide_tiles_with_about_k_passing_rows(passing):
    base = make_request(650 + passing, dim=16, nq=128, k=16, arena_rows=(64,), ranges=[[0, 64]], pass_fraction=1.0)
    keep = torch.zeros(64, dtype=torch.bool)
    keep[torch.randperm(64, generator=torch.Generator().manual_seed(passing))[:passing]] = True
    vectors = base.arenas[0].clone()
    vectors[::2] = vectors[1::2]
    request = ScanRequest(**{**base.__dict__, "arenas": (vectors,), "mask_words": pack_bits(keep)})
    result = triton_scan(request, config=KernelConfig(128, 16, 16), n_splits=1)
    assert_same(result, torch_scan(request), torch.float32)
    assert int((result.slots >= 0).sum(dim=1).min()) == min(16, passing)


@pytest.mark.parametrize("bias", [False, True])
def test_wide_tiles_never_stage_unkept_rows_the_gate_let_through(bias):
    """128-query tiles with one mask and no bias gate on scores that still hold the unkept rows (read as zeros):
    here every kept row scores below zero and each unkept one at zero, so the gate opens on every tile and
    staging must drop the unkept rows, and the rows of the next split in a tile cut by a split's end (their
    bits are set: they are dropped by position). With a bias (unkept rows' bias far above) the mask is applied
    before the gate."""
    rows, dim, nq = 200, 16, 128
    base = make_request(660 + bias, dim=dim, nq=nq, k=6, arena_rows=(rows,), ranges=[[0, 75], [96, 187]],
                        pass_fraction=0.5, bias=bias)
    generator = torch.Generator().manual_seed(661)
    vectors = -torch.randint(1, 9, (rows, dim), generator=generator).float()
    queries = torch.randint(0, 3, (nq, dim), generator=generator).float()
    queries[:, 0] = 1.0
    keep = unpack_bits(base.mask_words, rows)
    extra = {"bias": torch.where(keep, 0.0, 1000.0)} if bias else {}
    request = ScanRequest(**{**base.__dict__, "arenas": (vectors,), "queries": queries, **extra})
    for n_splits in (1, 3):
        result = triton_scan(request, config=KernelConfig(128, 32, 16), n_splits=n_splits)
        assert_same(result, torch_scan(request), torch.float32)
        assert bool(keep[result.slots].all()) and bool((result.scores < 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("per_query", [False, True])
def test_sample_scores_kernel_scores_as_the_scan(dtype, per_query):
    """The sample's scores (tensor-core products, float32 sums) against torch on the sampled rows: -inf where
    a query's bit is clear, bias and scale as the scan adds them, ragged dims (20 of a 32-wide chunk), rows
    of several arenas, 17 queries (two query tiles); and the bounds: the largest squared norm and |bias| of
    the rows some query keeps (rows no query keeps hold the largest norm and bias, which must stay out)."""
    from flatsearch.kernels.scan import sample_scores_kernel
    request = make_request(700 + per_query, dtype=dtype, dim=20, nq=17, k=3, arena_rows=(96, 64), bias=True,
                           per_query=per_query, score_scale=2.0, integer=False)
    slots = torch.tensor([0, 5, 95, 96, 100, 159, 40, 41, 7, 130, 64, 3, 2, 1, 90, 97, 150, 33])
    m, nq = len(slots), 17
    # two sampled rows no query keeps hold the largest norm and bias: they must stay out of the bounds
    keep_all = unpack_bits(request.mask_words, 160)
    keep_all[..., [5, 100]] = False
    arenas = [arena.clone() for arena in request.arenas]
    arenas[0][5] = arenas[1][100 - 96] = 50.0
    bias = request.bias.clone()
    bias[[5, 100]] = -1e4
    request = ScanRequest(**{**request.__dict__, "arenas": tuple(arenas), "bias": bias,
                             "mask_words": pack_bits(keep_all)})
    rows = torch.cat(request.arenas)[slots]
    rounded = request.queries.to(dtype)
    capacity = 160
    keep = unpack_bits(request.mask_words, capacity)[..., slots]
    keep = keep if per_query else keep[None, :].expand(nq, m)
    expected = (rounded.float() @ rows.float().T) * 2.0 + request.bias[slots][None, :]
    expected = expected.masked_fill(~keep, float("-inf"))
    scores = torch.empty(nq, m)
    bounds = torch.zeros(2)
    mask = request.mask_words
    sample_scores_kernel[(2, 2)](
        rounded.contiguous(), request.arenas[0], mask, request.bias, slots,
        triton_scan_module._row_offsets(request, slots), scores, bounds, nq, m,
        mask.stride(0) if per_query else 0, 2.0, DIM=20, PER_QUERY_MASK=per_query, HAS_BIAS=True,
        INPUT_PRECISION="ieee", UPCAST_DOT=dtype == torch.bfloat16, BLOCK_Q=16, BLOCK_N=16, BLOCK_D=32)
    assert torch.equal(torch.isneginf(scores), ~keep)
    atol, rtol = TOLERANCE[dtype]
    torch.testing.assert_close(scores[keep], expected[keep], atol=atol, rtol=rtol)
    norms = (rows.float() ** 2).sum(dim=1)
    kept = keep.any(dim=0)  # rows some query keeps
    torch.testing.assert_close(bounds[0], norms[kept].max(), atol=1e-4, rtol=1e-5)
    assert bounds[1] == request.bias[slots][kept].abs().max()
    assert norms[~kept].max() > norms[kept].max() and request.bias[slots][~kept].abs().max() > bounds[1]
    assert bool((~keep[16:].any(dim=0)).any())  # the one-query tile leaves rows out
