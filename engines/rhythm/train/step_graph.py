"""The rhythm engine's decoder-step graphs, built lean (training/export time only; needs ``onnx``).

The live engine calls a decoder step once per token, about 40 times a bar, on a batch of one.
At that size onnxruntime's cost is per node, not per multiply: the TorchScript export of
``Seq2Seq.step`` has 212 nodes after optimisation (reshapes, transposes, gathers and concats
around every attention), 155 us a call for Drum2Music on this machine. This module writes the
same computation with onnxruntime's fused ``com.microsoft.MultiHeadAttention`` (its own
key/value cache in and out) and ``SkipLayerNormalization`` (residual sum, bias and the next
norm in one node), about 70 nodes. The torch exporter cannot emit these operators from this
model, hence a graph written here. Same inputs, outputs and weights as before, so the
run-time code, the manifest's input list and the models' notes stay as they were
(``export_seq2seq`` checks each graph against the teacher-forced torch decoder).

    python -m engines.rhythm.train.step_graph   # rewrites the shipped decoder files lean, in place
"""
from __future__ import annotations

import sys

import numpy as np

SEQ2SEQ = ("rhythm2drum", "drum2music")
_LN_EPS = 1e-5  # torch.nn.LayerNorm's default, as the models are trained


def weights_of_model(model) -> dict[str, np.ndarray]:
    """A torch ``Seq2Seq``'s decoder weights by name; Linear weights as (in, out), as MatMul takes them."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w = {"tok": sd["tok.weight"], "pos": sd["tgt_pos"][0]}
    for k, v in sd.items():
        if k.startswith(("dec.", "dec_norm.", "head.")):
            is_linear = k.endswith(".weight") and v.ndim == 2
            w[k] = v.T.copy() if is_linear else v
    return w


def weights_of_onnx(path) -> dict[str, np.ndarray]:
    """The same weights read back from a TorchScript-exported step graph: biases and LayerNorm
    parameters keep their torch names there; each Linear's weight is the MatMul whose output
    the named bias is added to; the position table is what ``pos`` gathers from."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    users: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            users.setdefault(x, []).append(n)
    w = {k[2:]: v for k, v in init.items() if k.startswith("m.")}  # the export's "m." wrapper
    w["tok"] = w.pop("tok.weight")
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            biases = [x for a in users.get(n.output[0], []) if a.op_type == "Add"
                      for x in a.input if x.startswith("m.") and x.endswith(".bias")]
            if len(biases) != 1:
                raise ValueError(f"{path}: cannot tell which Linear MatMul {n.name} belongs to")
            w[biases[0][2:-len(".bias")] + ".weight"] = init[n.input[1]]
        elif n.op_type == "Gather" and n.input[1] == "pos":
            w["pos"] = init[n.input[0]]
    if "pos" not in w or "head.weight" not in w:
        raise ValueError(f"{path}: not a Seq2Seq decoder-step graph")
    return w


def decoder_step(w: dict[str, np.ndarray], heads: int, metadata: dict | None = None):
    """The decoder-step ``onnx.ModelProto``: token (B, 1) int64, pos (1,) int64, memory (B, S, d),
    past_k/past_v (layers, B, heads, P, d/heads) -> logits (B, vocab), present_k/present_v (P + 1),
    as ``Seq2Seq.step`` computes them (pre-norm blocks: self-attention with the cache,
    cross-attention over the memory, GELU MLP)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("dec."))
    vocab_size, d = w["tok"].shape
    if d % heads:
        raise ValueError(f"width {d} does not split into {heads} heads")
    nodes, inits = [], []
    count = [0]

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.array(value), name))  # C order; a 0-d index stays 0-d
        return name

    def op(kind: str, inputs, outputs: int = 1, domain: str | None = None, **attrs):
        count[0] += 1
        names = [f"{kind}_{count[0]}_{j}" for j in range(outputs)]
        nodes.append(helper.make_node(kind, list(inputs), names, domain=domain, **attrs))
        return names if outputs > 1 else names[0]

    def linear(x: str, name: str, bias: bool = True) -> str:
        y = op("MatMul", [x, const(name + ".weight", w[name + ".weight"])])
        return op("Add", [y, const(name + ".bias", w[name + ".bias"])]) if bias else y

    def norm(x: str, name: str) -> str:
        return op("LayerNormalization", [x, const(name + ".weight", w[name + ".weight"]),
                                         const(name + ".bias", w[name + ".bias"])], axis=-1, epsilon=_LN_EPS)

    def attention(p: str, h: str, kv_from: str, past: tuple[str, str] | None):
        """q from ``h``, key and value from ``kv_from`` (one packed Linear in the model, two
        MatMuls here; their biases go to the fused operator's packed bias)."""
        kv_w, kv_b = w[p + ".kv.weight"], w[p + ".kv.bias"]
        q = linear(h, p + ".q", bias=False)
        k = op("MatMul", [kv_from, const(p + ".k.weight", kv_w[:, :d])])
        v = op("MatMul", [kv_from, const(p + ".v.weight", kv_w[:, d:])])
        bias = const(p + ".qkv.bias", np.concatenate([w[p + ".q.bias"], kv_b]))
        ins = [q, k, v, bias] + (["", "", past[0], past[1]] if past else [])
        out = op("MultiHeadAttention", ins, 3 if past else 1, "com.microsoft", num_heads=heads)
        y, present = (out[0], out[1:]) if past else (out, None)
        return linear(y, p + ".o", bias=False), present  # its bias is added by the next norm

    def add_norm(y: str, x: str, bias: str, name: str) -> tuple[str, str]:
        """x + y + bias, and its LayerNorm ``name``: the residual sum and the next block's
        input in one fused node (its fourth output is the sum)."""
        normed, _, _, total = op("SkipLayerNormalization", [
            y, x, const(name + ".weight", w[name + ".weight"]), const(name + ".bias", w[name + ".bias"]),
            const(bias, w[bias])], 4, "com.microsoft", epsilon=_LN_EPS)
        return normed, total

    x = op("Add", [op("Gather", [const("token_table", w["tok"]), "token"]),
                   op("Gather", [const("position_table", w["pos"]), "pos"])])
    h = norm(x, "dec.0.n1")
    axis0 = const("axis0", np.array([0], np.int64))
    present_k, present_v = [], []
    for i in range(layers):
        p = f"dec.{i}"
        layer = const(p + ".index", np.array(i, np.int64))
        past = (op("Gather", ["past_k", layer], axis=0), op("Gather", ["past_v", layer], axis=0))
        y, (pk, pv) = attention(p + ".sa", h, h, past)
        h, x = add_norm(y, x, p + ".sa.o.bias", p + ".n2")
        y, _ = attention(p + ".ca", h, "memory", None)
        h, x = add_norm(y, x, p + ".ca.o.bias", p + ".n3")
        y = linear(op("Gelu", [linear(h, p + ".mlp.0")], domain="com.microsoft"), p + ".mlp.2", bias=False)
        h, x = add_norm(y, x, p + ".mlp.2.bias", f"dec.{i + 1}.n1" if i + 1 < layers else "dec_norm")
        present_k.append(op("Unsqueeze", [pk, axis0]))
        present_v.append(op("Unsqueeze", [pv, axis0]))
    logits = linear(h, "head")
    nodes.append(helper.make_node("Squeeze", [logits, const("axis1", np.array([1], np.int64))], ["logits"]))
    nodes.append(helper.make_node("Concat", present_k, ["present_k"], axis=0))
    nodes.append(helper.make_node("Concat", present_v, ["present_v"], axis=0))
    f, dh = TensorProto.FLOAT, d // heads
    cache = [layers, "batch", heads, "past", dh]
    graph = helper.make_graph(
        nodes, "decoder_step",
        [helper.make_tensor_value_info("token", TensorProto.INT64, ["batch", 1]),
         helper.make_tensor_value_info("pos", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("memory", f, ["batch", "memory_length", d]),
         helper.make_tensor_value_info("past_k", f, cache), helper.make_tensor_value_info("past_v", f, cache)],
        [helper.make_tensor_value_info("logits", f, ["batch", vocab_size]),
         helper.make_tensor_value_info("present_k", f, cache[:3] + ["length", dh]),
         helper.make_tensor_value_info("present_v", f, cache[:3] + ["length", dh])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="engines.rhythm.train.step_graph")
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        e = model.metadata_props.add()
        e.key, e.value = str(k), str(v)
    onnx.checker.check_model(model)
    return model


def max_difference(a_path, b_path, memory_length: int, layers: int, heads: int, dh: int,
                   steps: int = 24, seed: int = 0) -> float:
    """Largest logit/cache difference of two step graphs fed the same random tokens, from an
    empty cache, at batch 1 and 3."""
    from engines.runtime import open_session

    a, b = open_session(a_path, single_thread=True), open_session(b_path, single_thread=True)
    vocab = a.get_outputs()[0].shape[1]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch in (1, 3):
        mem = rng.standard_normal((batch, memory_length, a.get_inputs()[2].shape[2])).astype(np.float32)
        ka = kb = np.zeros((layers, batch, heads, 0, dh), np.float32)
        va, vb = ka, kb
        for i in range(steps):
            feed = {"token": rng.integers(0, vocab, (batch, 1)), "pos": np.array([i], np.int64), "memory": mem}
            la, ka, va = a.run(None, {**feed, "past_k": ka, "past_v": va})
            lb, kb, vb = b.run(None, {**feed, "past_k": kb, "past_v": vb})
            worst = max(worst, float(np.abs(la - lb).max()), float(np.abs(ka - kb).max()),
                        float(np.abs(va - vb).max()))
    return worst


def main(argv=None) -> int:
    """Rewrite the shipped TorchScript-exported decoder steps lean, from their own weights; each
    checked against the file it replaces, then the manifest's checksums updated."""
    import tempfile
    from pathlib import Path

    import onnx

    from engines import manifest
    from engines.runtime import MODELS_DIR, sha256_of

    done = {}
    for prefix in SEQ2SEQ:
        path = MODELS_DIR / f"{prefix}_decoder.onnx"
        old = onnx.load(str(path))
        if any(o.domain == "com.microsoft" for o in old.opset_import):
            print(f"{path.name}: already lean", file=sys.stderr)
            continue
        meta = {p.key: p.value for p in old.metadata_props}
        past = next(i for i in old.graph.input if i.name == "past_k").type.tensor_type.shape.dim
        layers, heads, dh = past[0].dim_value, past[2].dim_value, past[4].dim_value
        memory_length = next(i for i in old.graph.input if i.name == "memory").type.tensor_type.shape.dim[1]
        lean = decoder_step(weights_of_onnx(path), heads, meta)
        with tempfile.TemporaryDirectory() as tmp:
            new_path = Path(tmp) / path.name
            onnx.save(lean, str(new_path))
            err = max_difference(path, new_path, memory_length.dim_value, layers, heads, dh)
            if err > 1e-4:
                raise RuntimeError(f"{path.name}: the lean graph differs from the shipped one by {err}")
            new_path.replace(path)
        done[prefix] = err
        print(f"{path.name}: lean, largest difference {err:.2g}", file=sys.stderr)
    if done:  # only the files' checksums and sizes change: inputs, training and metrics stay
        manifest.update(MODELS_DIR / "manifest.json", {f"{p}_decoder": {} for p in done},
                        prepare=lambda name, new, old: {**old, "sha256": sha256_of(MODELS_DIR / old["file"]),
                                                        "bytes": (MODELS_DIR / old["file"]).stat().st_size})
    return 0


if __name__ == "__main__":
    sys.exit(main())
