#!/usr/bin/env python3
"""Checks for tests/cli/report.sh (standard library only).

  dom DUMP REF_INSPECT QUANT_INSPECT COMPARE_JSON   the page's tensor table,
      as Chromium built it (--dump-dom), against `quantkit inspect --json` of
      both models (one row per tensor; QUANT's bits per weight) and
      `quantkit compare --json` (types, SQNR, cosine); prints the tensors
      shown in detail.
  png FILE[=WIDTHxHEIGHT]...              PNG files: signature, IHDR size.
  outliers DUMP HF_DIR TENSOR K BITS PCT  the outlier count of TENSOR and the
      SQNR of three int-BITS round-to-nearest quantizations of it (per tensor
      min-max, per tensor two-sided PCT percentile range, per row min-max),
      computed here from the bf16 safetensors with f32 arithmetic emulated,
      against the page's numbers.
  ppl DUMP EVAL_JSON                      perplexity / KL on the page against
      `quantkit eval --ref --json`.
"""
import json
import math
import struct
import sys
from html.parser import HTMLParser


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Tables(HTMLParser):
    """Rows of every <table>: (table attrs, row attrs, [cell text])."""

    def __init__(self):
        super().__init__()
        self.tables = []  # stack of [attrs, rows]
        self.done = []
        self.row = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([a, []])
        elif tag == "tr" and self.tables:
            self.row = [a, []]
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row[1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1][1].append(self.row)
            self.row = None
        elif tag == "table" and self.tables:
            self.done.append(self.tables.pop())

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parse(path):
    p = Tables()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p.done


def table(tables, cls):
    for attrs, rows in tables:
        if cls in (attrs.get("class") or "").split():
            return rows
    fail("no table of class %s on the page" % cls)


def near(got_text, want, decimals, what):
    """The page's text equals `want` printed with `decimals` decimals (one unit
    of the last digit allowed for rounding of a value on a boundary)."""
    got = float(got_text)
    if abs(got - want) > 1.01 * 10.0 ** -decimals:
        fail("%s: page says %s, expected %.*f" % (what, got_text, decimals, want))


def cmd_dom(dump, inspect_path, quant_inspect_path, compare_path):
    rows = [r for r in table(parse(dump), "tensors") if "tensor" in (r[0].get("class") or "").split()]
    inspect = json.load(open(inspect_path))
    quant = json.load(open(quant_inspect_path))
    compare = json.load(open(compare_path))
    names = [r[0]["data-name"] for r in rows]
    want = [t["name"] for t in inspect["tensors"]]
    if len(names) != len(set(names)):
        fail("a tensor has more than one row")
    if sorted(names) != sorted(want):
        fail("rows %d != tensors %d; missing %s, extra %s" % (
            len(names), len(want), sorted(set(want) - set(names)), sorted(set(names) - set(want))))
    if sorted(t["name"] for t in quant["tensors"]) != sorted(want):
        fail("QUANT's tensors are not REF's")
    bytes_of = {t["name"]: t for t in quant["tensors"]}
    cmp_of = {t["name"]: t for t in compare["tensors"]}
    for attrs, cells in rows:
        name = attrs["data-name"]
        if cells[1] != name:
            fail("row %s shows the name %s" % (name, cells[1]))
        c, t = cmp_of[name], bytes_of[name]
        if cells[3] != c["ref_type"] or cells[4] != c["type"]:
            fail("%s: types %s/%s, compare says %s/%s" % (name, cells[3], cells[4], c["ref_type"], c["type"]))
        numel = 1
        for d in t["shape"]:
            numel *= d
        near(cells[5], 8.0 * t["bytes"] / numel, 3, name + " bits/weight")
        if c["sqnr_db"] is None:
            if cells[6] != "exact":
                fail("%s: error-free tensor shows SQNR %s" % (name, cells[6]))
        else:
            near(cells[6], c["sqnr_db"], 2, name + " SQNR")
        near(cells[7], c["cosine"], 6, name + " cosine")
    chosen = [r[0]["data-name"] for r in rows if "chosen" in r[0]["class"].split()]
    print("  ok   %d table rows = the %d tensors of inspect --json; types, bits/weight, SQNR and "
          "cosine as compare --json" % (len(rows), len(want)))
    print("CHOSEN " + " ".join(chosen))


def cmd_png(*specs):
    """Each spec FILE or FILE=WIDTHxHEIGHT (one call for many files)."""
    if not specs:
        fail("png: no files")
    for spec in specs:
        path, _, size = spec.partition("=")
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
            fail("%s is not a PNG file" % path)
        w, h = struct.unpack(">II", head[16:24])
        if size and "%dx%d" % (w, h) != size:
            fail("%s is %dx%d, expected %s" % (path, w, h, size))
    print("  ok   %d PNG files" % len(specs))


# ---- the tensor from the Hugging Face folder

HF_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def hf_name(name):
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output.weight":
        return "lm_head.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    blk, layer, part, _ = name.split(".")
    return "model.layers.%s.%s.weight" % (layer, HF_NAMES[part])


def read_bf16(hf_dir, name):
    """Values and shape of a bf16 tensor. (q/k rows are stored in HF's order
    here, permuted in llama.cpp's; every number checked is the same for any
    order of the rows.)"""
    with open(hf_dir + "/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        t = header[hf_name(name)]
        if t["dtype"] != "BF16":
            fail("%s is %s, not BF16" % (name, t["dtype"]))
        b, e = t["data_offsets"]
        f.seek(8 + n + b)
        raw = f.read(e - b)
    u16 = struct.unpack("<%dH" % (len(raw) // 2), raw)
    vals = struct.unpack("<%df" % len(u16), struct.pack("<%dI" % len(u16), *[u << 16 for u in u16]))
    return list(vals), t["shape"]


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


FLT_EPSILON = 2.0 ** -23


def rtn(x, lo, hi, bits):
    """torch.ao's asymmetric quantize-dequantize of x with the range [lo, hi]
    (widened to include 0) on [0, 2^bits - 1], in f32: scale = (max - min) /
    (qmax - qmin), zero point = clamp(qmin - round(min / scale)), q =
    clamp(round(x * (1 / scale)) + zp), y = (q - zp) * scale; half to even."""
    qmax = float(2 ** bits - 1)
    mn, mx = f32(min(lo, 0.0)), f32(max(hi, 0.0))
    scale = f32(f32(mx - mn) / qmax)
    scale = max(scale, FLT_EPSILON)
    zp = min(max(0.0 - round(f32(mn / scale)), 0.0), qmax)
    inv = f32(1.0 / scale)
    out = []
    for v in x:
        q = min(max(round(f32(v * inv)) + zp, 0.0), qmax)
        out.append(f32((q - zp) * scale))
    return out


def sqnr(x, y):
    num = math.fsum(v * v for v in x)
    den = math.fsum((a - b) * (a - b) for a, b in zip(x, y))
    return 10.0 * math.log10(num / den)


def percentile(sorted_vals, p):
    """numpy's linear interpolation at rank (n - 1) * p / 100."""
    h = (len(sorted_vals) - 1) * p / 100.0
    k = int(math.floor(h))
    if k + 1 >= len(sorted_vals):
        return sorted_vals[-1]
    return sorted_vals[k] + (h - k) * (sorted_vals[k + 1] - sorted_vals[k])


def cmd_outliers(dump, hf_dir, name, k, bits, pct):
    k, bits, pct = float(k), int(bits), float(pct)
    tables = parse(dump)
    rows = {r[0]["data-name"]: r[1] for r in table(tables, "tensors") if "data-name" in r[0]}
    x, shape = read_bf16(hf_dir, name)
    n = len(x)
    mean = math.fsum(x) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / n)
    count = sum(1 for v in x if abs(v - mean) > k * std)
    if int(rows[name][10]) != count:
        fail("%s: page shows %s outliers, expected %d" % (name, rows[name][10], count))
    near(rows[name][11], 100.0 * count / n, 3, name + " outlier %")
    print("  ok   %s: %d outliers at %g std (%.3f%%), counted here from the safetensors" % (
        name, count, k, 100.0 * count / n))

    # the page's outlier-impact rows of this tensor
    methods, current = {}, None
    for attrs, cells in table(tables, "outliers"):
        if not cells or cells[0] == "tensor":
            continue
        if len(cells) == 8:
            current, cells = cells[0], cells[1:]
        if current == name:
            methods[cells[0]] = cells
    s = sorted(x)
    want = {
        "int%d per tensor, min-max (no clipping)" % bits: sqnr(x, rtn(x, s[0], s[-1], bits)),
        "int%d per tensor, percentile %g clipping" % (bits, pct): sqnr(
            x, rtn(x, percentile(s, 100.0 - pct), percentile(s, pct), bits)),
    }
    rows_n, cols = shape
    y = []
    for r in range(rows_n):
        row = x[r * cols:(r + 1) * cols]
        y += rtn(row, min(row), max(row), bits)
    want["int%d per channel (rows), min-max" % bits] = sqnr(x, y)
    for method, value in want.items():
        if method not in methods:
            fail("%s: no outlier-impact row '%s' (rows: %s)" % (name, method, list(methods)))
        near(methods[method][2], value, 2, "%s %s SQNR" % (name, method))
        print("  ok   %s, %s: SQNR %.2f dB as computed here" % (name, method, value))


def cmd_ppl(dump, eval_path):
    ev = json.load(open(eval_path))
    tables = parse(dump)
    for attrs, rows in tables:
        if "kv" in (attrs.get("class") or "").split():
            kv = {cells[0]: cells[1] for _, cells in rows}
            break
    else:
        fail("no perplexity table on the page")
    near(kv["perplexity of REF"], ev["ref_ppl"], 4, "REF perplexity")
    near(kv["perplexity of QUANT"].split()[0], ev["ppl"], 4, "QUANT perplexity")
    near(kv["mean KL(REF || QUANT), nats per token"].split()[0], ev["kl"], 6, "mean KL")
    near(kv["top-1 agreement"].rstrip("%"), 100.0 * ev["top1"], 2, "top-1 agreement")
    print("  ok   perplexity %.4f -> %.4f, KL %.6f: as quantkit eval --ref" % (
        ev["ref_ppl"], ev["ppl"], ev["kl"]))



# ---- sensitivity ranking and allocation

# bytes per block and block size of the storage types (ggml's layouts)
TYPE_SIZE = {"f32": (4, 1), "f16": (2, 1), "bf16": (2, 1), "q4_0": (18, 32), "q4_1": (20, 32),
             "q5_0": (22, 32), "q5_1": (24, 32), "q8_0": (34, 32), "q2_k": (84, 256),
             "q3_k": (110, 256), "q4_k": (144, 256), "q5_k": (176, 256), "q6_k": (210, 256)}


def bpw(tname):
    size, block = TYPE_SIZE[tname.lower()]
    return 8.0 * size / block


def type_bytes(tname, rows, cols):
    size, block = TYPE_SIZE[tname.lower()]
    if cols % block:
        fail("%s does not hold rows of %d" % (tname, cols))
    return rows * cols // block * size


def f16(v):
    return struct.unpack("<e", struct.pack("<e", v))[0]


def q8_0(x):
    """ggml's reference q8_0 in f32: per 32 values d = amax / 127, q =
    roundf(x / d) (half away from zero), stored d in f16; y = f16(d) * q."""
    out = []
    for b in range(0, len(x), 32):
        blk = x[b:b + 32]
        amax = max(abs(v) for v in blk)
        d = f32(amax / 127.0)
        inv = f32(1.0 / d) if d else 0.0
        dh = f16(d)
        for v in blk:
            t = f32(v * inv)
            q = math.floor(abs(t) + 0.5) * (1 if t >= 0 else -1)
            out.append(f32(dh * q))
    return out


def sens_rows(tables):
    """The ranking: [(name, cells)], and the header's format names."""
    rows = table(tables, "sensitivity")
    formats = [c for c in rows[0][1] if c not in ("rank", "tensor", "shape", "QUANT type")
               and not c.startswith("predicted")]
    body = [(a["data-name"], c) for a, c in rows if "sens" in (a.get("class") or "").split()]
    return body, formats


def cmd_sens(dump, inspect_path, hf_dir):
    tables = parse(dump)
    body, formats = sens_rows(tables)
    inspect = json.load(open(inspect_path))
    want = sorted(t["name"] for t in inspect["tensors"] if len(t["shape"]) == 2)
    names = [n for n, _ in body]
    if sorted(names) != want:
        fail("ranking rows %s != the 2-D tensors %s" % (sorted(names), want))
    ranks = [int(c[0]) for _, c in body]
    if ranks != list(range(1, len(body) + 1)):
        fail("ranks are not 1..%d" % len(body))
    pred = [float(c[4]) for _, c in body]
    if any(a < b for a, b in zip(pred, pred[1:])):
        fail("the ranking is not sorted by predicted loss: %s" % pred)
    if len(formats) * 3 + 5 != len(body[0][1]):
        fail("%d formats but %d cells" % (len(formats), len(body[0][1])))
    print("  ok   sensitivity ranking: the %d 2-D tensors of inspect --json, ranks 1..%d, "
          "predicted loss descending, %d formats (%s)" % (len(body), len(body), len(formats),
                                                          " ".join(formats)))
    # SQNR rises and the output error falls with the bits per weight
    kq = sorted(formats, key=bpw)
    for name, c in body:
        s = [float(c[5 + 3 * formats.index(f)]) for f in kq]
        o = [float(c[6 + 3 * formats.index(f)]) for f in kq]
        if any(a >= b for a, b in zip(s, s[1:])) or any(a <= b for a, b in zip(o, o[1:])):
            fail("%s: SQNR %s / output error %s not monotonic in %s" % (name, s, o, kq))
    print("  ok   every tensor: SQNR rises and output error falls in the order %s" % " < ".join(kq))
    # q8_0 and f16 SQNR of the smallest tensor, computed here
    shapes = {t["name"]: t["shape"] for t in inspect["tensors"]}
    small = min(names, key=lambda n: (shapes[n][0] * shapes[n][1], n))
    x, _ = read_bf16(hf_dir, small)
    cells = dict(body)[small]
    for f, y in (("q8_0", q8_0(x)), ("f16", [f16(v) for v in x])):
        if f not in formats:
            continue
        got = cells[5 + 3 * formats.index(f)]
        if all(a == b for a, b in zip(x, y)):
            if got != "exact":
                fail("%s %s: page %s, the values are exact" % (small, f, got))
            print("  ok   %s in %s: exact, as here" % (small, f))
        else:
            near(got, sqnr(x, y), 2, "%s %s SQNR" % (small, f))
            print("  ok   %s in %s: SQNR %.2f dB as computed here" % (small, f, sqnr(x, y)))


def cmd_alloc(dump, inspect_path, budget, strict):
    """The allocation for `budget`; strict: its predicted loss must be below
    QUANT's formats' (QUANT fits in less than the budget, and every tensor
    has a format of lower loss)."""
    budget = int(budget)
    tables = parse(dump)
    summary = None
    for attrs, rows in tables:
        if attrs.get("id") == "allocation-summary":
            summary = {c[0]: c[1] for _, c in rows}
    if summary is None:
        fail("no allocation summary")
    rows = [(a["data-name"], "fixed" in a["class"].split(), c)
            for a, c in table(tables, "allocation") if "alloc" in (a.get("class") or "").split()]
    inspect = json.load(open(inspect_path))
    shapes = {t["name"]: t["shape"] for t in inspect["tensors"]}
    if sorted(n for n, _, _ in rows) != sorted(shapes):
        fail("allocation rows are not the model's tensors")
    total = 0
    pred = 0.0
    for name, fixed, c in rows:
        tname = c[1].split()[0]
        shape = shapes[name]
        cols = shape[-1]
        nrows = 1
        for d in shape[:-1]:
            nrows *= d
        # inspect lists shapes outermost first (rows, cols)
        b = type_bytes(tname, nrows, cols)
        if int(c[2]) != b:
            fail("%s in %s: %s bytes, expected %d" % (name, tname, c[2], b))
        total += b
        if not fixed:
            pred += float(c[3])
    if int(summary["budget, bytes"]) != budget:
        fail("budget %s, expected %d" % (summary["budget, bytes"], budget))
    if int(summary["tensor data, bytes"]) != total:
        fail("tensor data %s bytes, the rows sum to %d" % (summary["tensor data, bytes"], total))
    file_bytes = int(summary["file size, bytes"])
    al = int(summary["alignment, bytes"])
    padded = int(summary["header, bytes"]) + sum((int(c[2]) + al - 1) // al * al for _, _, c in rows)
    if file_bytes != padded:
        fail("file size %d, header + %d-byte aligned tensors %d" % (file_bytes, al, padded))
    if file_bytes > budget:
        fail("file size %d over the budget %d" % (file_bytes, budget))
    got = float(summary["predicted loss, allocation"])
    if abs(got - pred) > 2e-3 * abs(pred):
        fail("predicted loss %s, the rows sum to %g" % (got, pred))
    quant = float(summary["predicted loss, QUANT's formats"])
    if got > quant or (strict == "strict" and not got < quant):
        fail("the allocation's predicted loss %g, QUANT's %g" % (got, quant))
    print("  ok   allocation: %d tensors, bytes per tensor from the formats, file %d = header + "
          "aligned tensors <= budget %d; predicted loss %.4e %s QUANT's formats %.4e" % (
              len(rows), file_bytes, budget, got, "<" if strict == "strict" else "<=", quant))


if __name__ == "__main__":
    cmds = {"dom": cmd_dom, "png": cmd_png, "outliers": cmd_outliers, "ppl": cmd_ppl,
            "sens": cmd_sens, "alloc": cmd_alloc}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail("usage: report_check.py dom|png|outliers|ppl|sens|alloc ...")
    cmds[sys.argv[1]](*sys.argv[2:])
