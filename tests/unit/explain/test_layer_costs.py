"""FLOP and byte counts of small layers against hand-computed values, forward and backward.

What explain multiplies by energy per FLOP and per byte. The FLOP counts of Linear, Conv2d, CPU
scaled-dot-product attention and LayerNorm, forward and backward, and Linear's bytes are checked
in tests/unit/integrations/test_flops.py:

- ``test_linear_forward_is_2_b_in_out_and_backward_adds_one_matmul_per_gradient``
- ``test_linear_bytes_are_parameters_input_and_output``
- ``test_conv2d_forward_is_2_cout_hout_wout_cin_kh_kw_b``
- ``test_cpu_scaled_dot_product_attention_is_counted_forward_and_backward``
- ``test_meta_attention_takes_the_math_path_and_its_four_matmul_backward``
- ``test_layer_norm_counts_5_flops_per_element_plus_affine``
- ``test_inference_fast_paths_count_like_the_slow_paths`` (nn.MultiheadAttention forward)

Here: the bytes of Conv2d, attention and LayerNorm, and nn.MultiheadAttention trained (forward
and backward FLOPs and bytes), which were not checked.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from jouleflow.integrations.flops import count_module_costs  # noqa: E402

F32 = 4  # bytes per float32


def test_conv2d_bytes_are_weights_bias_input_and_output():
    batch, c_in, c_out, h, w, k = 2, 3, 4, 9, 7, 3
    conv = nn.Conv2d(c_in, c_out, k, padding=1, stride=2)
    x = torch.randn(batch, c_in, h, w, requires_grad=True)

    def step() -> None:
        conv(x).sum().backward()

    cost = count_module_costs(conv, step)[""]
    h_out, w_out = (h + 2 - k) // 2 + 1, (w + 2 - k) // 2 + 1  # 5, 4
    assert cost.param_bytes == (c_out * c_in * k * k + c_out) * F32 == 448
    assert cost.activation_bytes_in == batch * c_in * h * w * F32 == 1512
    assert cost.activation_bytes_out == batch * c_out * h_out * w_out * F32 == 640
    forward = 2 * c_out * h_out * w_out * c_in * k * k * batch
    assert (cost.forward_flops, cost.backward_flops) == (forward, 2 * forward)


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_cpu_attention_bytes_are_q_k_v_in_and_the_output_out():
    batch, heads, q_len, kv_len, dim = 2, 3, 5, 7, 4
    q = torch.randn(batch, heads, q_len, dim, requires_grad=True)
    k = torch.randn(batch, heads, kv_len, dim, requires_grad=True)
    v = torch.randn(batch, heads, kv_len, dim, requires_grad=True)
    attention = Attention()

    def step() -> None:
        attention(q, k, v).sum().backward()

    cost = count_module_costs(attention, step)[""]
    assert cost.param_bytes == 0
    assert cost.activation_bytes_in == batch * heads * (q_len + 2 * kv_len) * dim * F32 == 1824
    assert cost.activation_bytes_out == batch * heads * q_len * dim * F32 == 480
    bhlse = batch * heads * q_len * kv_len * dim
    assert (cost.forward_flops, cost.backward_flops) == (4 * bhlse, 10 * bhlse)


def test_layer_norm_bytes_are_weight_bias_input_and_output():
    norm = nn.LayerNorm(8)
    x = torch.randn(3, 4, 8, requires_grad=True)

    def step() -> None:
        norm(x).sum().backward()

    cost = count_module_costs(norm, step)[""]
    n = x.numel()
    assert cost.param_bytes == 2 * 8 * F32
    assert cost.activation_bytes_in == cost.activation_bytes_out == n * F32 == 384
    assert (cost.forward_flops, cost.backward_flops) == (7 * n, 13 * n)


def test_trained_multihead_attention_forward_backward_and_bytes():
    batch, length, embed = 2, 5, 8
    mha = nn.MultiheadAttention(embed, 2, batch_first=True)
    x = torch.randn(batch, length, embed, requires_grad=True)

    def step() -> None:
        out, _weights = mha(x, x, x)
        out.sum().backward()

    cost = count_module_costs(mha, step)[""]
    # q, k, v and output projections 2·B·E²·(2L + 2S), then Q Kᵀ and P V 4·B·L·S·E
    forward = 2 * batch * embed * embed * 4 * length + 4 * batch * length * length * embed
    assert cost.forward_flops == forward == 6720
    # every matrix product has two gradients (its input needs one): backward = 2 × forward
    assert cost.backward_flops == 2 * forward
    # in_proj (3E×E + 3E) and out_proj (E×E + E)
    assert cost.param_bytes == (4 * embed * embed + 4 * embed) * F32 == 1152
    assert cost.activation_bytes_in == batch * length * embed * F32  # x passed 3 times: once
    # the output and the head-averaged attention weights (B, L, S)
    assert cost.activation_bytes_out == (batch * length * embed + batch * length * length) * F32
