"""Packed keep-masks: bit ``i % 32`` (least significant first) of word ``i // 32``.

torch has no full uint32 support, so words are stored as int32 holding the
same bit pattern; the Triton kernel reads them the same way.

Example:
    >>> import torch
    >>> from flatsearch.bitmask import pack_bits, unpack_bits
    >>> keep = torch.tensor([True, False, True] + [False] * 29)
    >>> pack_bits(keep).tolist()
    [5]
    >>> unpack_bits(pack_bits(keep), 3).tolist()
    [True, False, True]
    >>> pack_slots(torch.tensor([0, 2]), 32).tolist(), word_popcount(pack_bits(keep)).tolist()
    ([5], [2])
"""
from __future__ import annotations

import numpy as np
import torch

WORD_BITS = 32


def pack_bits(keep: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor (..., n) into int32 words (..., ceil(n / 32))."""
    n = keep.shape[-1]
    if keep.device.type == "cpu":
        # numpy packs in one single-threaded pass (17k bools: 3 us against 40 us for the torch ops below).
        packed = np.packbits(keep.numpy(), axis=-1, bitorder="little")
        pad = -packed.shape[-1] % 4
        if pad:
            packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), dtype=np.uint8)], axis=-1)
        return torch.from_numpy(np.ascontiguousarray(packed).view(np.int32))
    padded_len = -(-n // WORD_BITS) * WORD_BITS
    if padded_len != n:
        pad = keep.new_zeros(keep.shape[:-1] + (padded_len - n,))
        keep = torch.cat([keep, pad], dim=-1)
    # Build bytes (8 bits each) and view four of them as one little-endian word.
    grouped = keep.reshape(keep.shape[:-1] + (padded_len // 8, 8)).to(torch.uint8)
    weights = torch.bitwise_left_shift(torch.ones(8, dtype=torch.uint8, device=keep.device),
                                       torch.arange(8, dtype=torch.uint8, device=keep.device))
    as_bytes = (grouped * weights).sum(dim=-1, dtype=torch.uint8)
    return as_bytes.contiguous().view(torch.int32)


def unpack_bits(words: torch.Tensor, n: int, start: int = 0) -> torch.Tensor:
    """Bits ``start .. start + n`` of packed words (..., n_words) as bool (..., n)."""
    first_word, last_word = start // WORD_BITS, -(-(start + n) // WORD_BITS)
    chunk = words[..., first_word:last_word].contiguous()
    # Viewed as bytes (little-endian on every supported device), byte j of a word
    # holds its bits 8j .. 8j + 7: unpacking bytes keeps the temporaries small.
    as_bytes = chunk.view(torch.uint8)
    shifts = torch.arange(8, dtype=torch.uint8, device=words.device)
    bits = torch.bitwise_and(torch.bitwise_right_shift(as_bytes.unsqueeze(-1), shifts), 1).to(torch.bool)
    flat = bits.reshape(chunk.shape[:-1] + (-1,))
    offset = start - first_word * WORD_BITS
    return flat[..., offset:offset + n]


def popcount(words: torch.Tensor) -> torch.Tensor:
    """Number of set bits over the last dimension."""
    return unpack_bits(words, words.shape[-1] * WORD_BITS).sum(dim=-1)


def pack_slots(slots: torch.Tensor, n: int) -> torch.Tensor:
    """The words of ``pack_bits`` for a mask of length n whose set bits are ``slots`` (unique).

    Costs O(len(slots) + n / 32): a selective filter never builds a bool per slot.
    """
    n_words = -(-n // WORD_BITS)
    # Bit 31 is the int32 sign bit (-2**31); distinct bits of one word never carry, so their sum is
    # their bitwise or and stays in int32 range.
    bits = torch.bitwise_left_shift(torch.ones(1, dtype=torch.int32, device=slots.device),
                                    (slots & (WORD_BITS - 1)).to(torch.int32))
    return torch.zeros(n_words, dtype=torch.int32, device=slots.device).index_add_(0, slots >> 5, bits)


def pack_rows(slots: torch.Tensor, bits: torch.Tensor, n: int) -> torch.Tensor:
    """Per-row words (rows, ceil(n / 32)) whose set bits are ``slots[j]`` where ``bits[row, j]`` is True.

    ``slots`` are unique; costs O(rows * n / 32 + set bits), no bool per slot.

    Example:
        >>> import torch
        >>> pack_rows(torch.tensor([1, 33]), torch.tensor([[True, True], [False, True]]), 64).tolist()
        [[2, 2], [0, 2]]
    """
    n_words = -(-n // WORD_BITS)
    if slots.device.type == "cpu":
        # In numpy: a search packs a few hundred bits, where each of the seven torch calls costs more.
        rows, columns = np.nonzero(bits.numpy())
        picked = slots.numpy()[columns]
        # Distinct bits of one word sum to their bitwise or; float64 holds every sum (< 2**32) exactly.
        words = np.bincount(rows * n_words + (picked >> 5), weights=np.left_shift(1, picked & (WORD_BITS - 1)),
                            minlength=bits.shape[0] * n_words)
        return torch.from_numpy(words.astype(np.uint32).view(np.int32).reshape(bits.shape[0], n_words))
    rows, columns = bits.nonzero(as_tuple=True)
    picked = slots[columns]
    flat = rows * n_words + (picked >> 5)
    values = torch.bitwise_left_shift(torch.ones(1, dtype=torch.int32, device=slots.device),
                                      (picked & (WORD_BITS - 1)).to(torch.int32))
    words = torch.zeros(bits.shape[0] * n_words, dtype=torch.int32, device=slots.device)
    return words.index_add_(0, flat, values).view(bits.shape[0], n_words)


def word_popcount(words: torch.Tensor) -> torch.Tensor:
    """Set bits of each int32 word, as int64 (a SWAR popcount, no unpacking)."""
    x = words.to(torch.int64) & 0xFFFFFFFF
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


def bits_at(words: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """Bits ``slots`` of packed words (..., n_words) as bool (..., len(slots)): O(len(slots)) per row.

    Example:
        >>> import torch
        >>> bits_at(pack_bits(torch.tensor([[True, False, True], [False, True, False]])), torch.tensor([0, 2])).tolist()
        [[True, True], [False, False]]
    """
    picked = words.index_select(-1, slots >> 5)
    return torch.bitwise_and(torch.bitwise_right_shift(picked, (slots & (WORD_BITS - 1)).to(torch.int32)), 1).to(torch.bool)
