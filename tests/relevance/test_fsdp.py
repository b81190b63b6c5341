"""The FSDP sharding used on several GPUs, run on CPU with two gloo processes."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train_one_step(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import DTensor
        from transformers import BertConfig, BertModel

        from flatsearch.jobsearch.relevance.biencoder import shard_model

        torch.manual_seed(0)
        model = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32))
        full_size = sum(p.numel() for p in model.parameters())
        shard_model(model, mesh=init_device_mesh("cpu", (2,)))
        local_size = sum(p.to_local().numel() for p in model.parameters())
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
        torch.manual_seed(1)
        batch = torch.randint(0, 50, (2, 6))
        losses = []
        for _ in range(2):
            loss = model(input_ids=batch).last_hidden_state.pow(2).mean()
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            losses.append(loss.item())
        results[rank] = (all(isinstance(p, DTensor) for p in model.parameters()), local_size, full_size, losses)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_sharded_model_trains_with_half_the_parameters_per_rank():
    results = mp.Manager().dict()
    mp.spawn(_train_one_step, args=(_free_port(), results), nprocs=2)
    (sharded0, local0, full, losses0), (sharded1, local1, _, losses1) = results[0], results[1]
    assert sharded0 and sharded1
    assert local0 + local1 >= full and max(local0, local1) <= full // 2 + 64  # each rank holds about half
    assert losses0 == pytest.approx(losses1) and losses0[1] < losses0[0]
