#!/usr/bin/env python3
"""Timing models of the d_state-1 scan kernels (cl_kernels/scan_n1.cl), for the sixth session's
decomposition in ../README.md. Writes a copy of cl_kernels/ with scan_n1.cl edited, to be run
through CLIMP_KERNEL_DIR (the runtime then compiles the copy instead of the shipped sources):

  compute   every token row index wraps into the first 8 tokens of batch element 0 and the
            forward's streaming stores are off, so all loads and stores hit the L1 and no DRAM
            traffic is left: the time of the kernels' instruction streams alone.
  nomath    exp(-|v|), log1p, the sigmoid's division and exp2(delta A) each replaced by one
            multiply-add (the forward's softplus by one multiply), memory untouched: the time
            of the memory access pattern with the transcendental arithmetic removed.

The results are wrong by design (rows overwrite each other; the math is not the scan's); only
their times mean something. Every substitution is asserted, so a changed kernel fails loudly.

usage: n1_variants.py {compute|nomath} SRC_DIR OUT_DIR
example (from the repository root):
  python3 docs/results/pocl-epyc-2core-2026-11-29/experiments/n1_variants.py compute cl_kernels /tmp/k-compute
  cp -r cl_kernels /tmp/k-shipped
  scripts/bench_ab --arm shipped=build/climp,CLIMP_KERNEL_DIR=/tmp/k-shipped \\
      --arm compute=build/climp,CLIMP_KERNEL_DIR=/tmp/k-compute --rounds 8 \\
      -- kernels --filter "stage0@224 B=8" --no-reference --reps 5
(an arm of the shipped sources through CLIMP_KERNEL_DIR too, so both arms compile the same way).
"""
import os
import shutil
import sys


def sub(text, old, new, count=None):
    n = text.count(old)
    if n == 0 or (count is not None and n != count):
        sys.exit("n1_variants: expected %s occurrence(s) of %r, found %d"
                 % (count if count is not None else ">= 1", old, n))
    return text.replace(old, new)


FWD = ("static void fwd_body", "kernel void scan_fwd_n1")
BWD = ("static void bwd_body", "kernel void scan_bwd_n1")


def in_body(text, where, edits):
    """Applies edits, (old, new, count) triples, inside one kernel body only."""
    a, b = text.index(where[0]), text.index(where[1])
    part = text[a:b]
    for old, new, count in edits:
        part = sub(part, old, new, count)
    return text[:a] + part + text[b:]


def compute_only(s):
    s = in_body(s, FWD, [
        ("const ulong tk = (ulong)b * L + t0 + i;", "const ulong tk = (ulong)((t0 + i) & 7);", 1),
        ("const ulong tk = (ulong)b * L + t;", "const ulong tk = (ulong)(t & 7);", 1)])
    s = in_body(s, BWD, [
        ("const ulong tk = (ulong)b * L + t0 + i, c = c0 + v0 * CB;",
         "const ulong tk = (ulong)((t0 + i) & 7), c = c0 + v0 * CB;", 4)])
    return sub(s, '#include "scan_math.clh"', '#define NT 0\n#include "scan_math.clh"', 1)


def no_math(s):
    s = in_body(s, FWD, [
        ("SOFTPLUS(NV, dl, x);", "REP(NV, dl[q] = x[q] * 0.5f);", 1),
        ("EXP2_NEG(NV, a, x);", "REP(NV, a[q] = x[q] * 0.5f + 1.0f);", 1)])
    return in_body(s, BWD, [
        ("EXP_NEG(NV, e, x);", "REP(NV, e[q] = x[q] * 0.5f + 1.0f);", 1),
        ("LOG1P01(NV, l, e);", "REP(NV, l[q] = e[q] * 0.5f);", 1),
        ("SG[i * NV + q] = (x[q] >= 0.0f ? 1.0f : e[q]) / (1.0f + e[q]);",
         "SG[i * NV + q] = e[q] * 0.25f;", 1),
        ("EXP2_NEG(NV, a, x);", "REP(NV, a[q] = x[q] * 0.5f + 1.0f);", 1)])


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("compute", "nomath"):
        sys.exit(__doc__)
    kind, src, out = sys.argv[1:]
    if os.path.exists(out):
        sys.exit("n1_variants: %s exists" % out)
    shutil.copytree(src, out)
    path = os.path.join(out, "scan_n1.cl")
    with open(path) as f:
        s = f.read()
    s = compute_only(s) if kind == "compute" else no_math(s)
    with open(path, "w") as f:
        f.write(s)
    print("n1_variants: wrote %s (%s)" % (out, kind))


if __name__ == "__main__":
    main()
