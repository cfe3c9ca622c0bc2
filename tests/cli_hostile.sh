#!/usr/bin/env bash
# Hostile and broken input end to end through the CLI (issue 9): bad command lines (exit 2, one
# line, nothing written); bad checkpoints through `climp eval --model` and bad tokenizer.json
# files through `climp train` (exit 1, one line naming the file and, where there is one, the
# tensor; nothing written); TSV rows and tar members that are bad (skipped with a line naming the
# file and the reason, counted, the run goes on) or shards that hold nothing usable (exit 1, one
# line); images (truncated, zero-sized, 20000x20000 declared, missing: skipped; 1x1, CMYK JPEG and
# 16-bit PNG: decoded). The bad files come from tests/fuzz/corpus/ (tests/fuzz/make_seeds.py) or
# are made here. CLIMP_HOSTILE_VERBOSE=1 prints what each case printed.
set -u
BIN=${CLIMP_BIN:?}
SRC=${CLIMP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
CORPUS=$SRC/tests/fuzz/corpus
fail=0; pass=0; xfail=0
tmp=$(mktemp -d); trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"

ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
# Known bugs in files other people own (reported; see the final report of issue 9): counted
# apart, and a fixed one says so.
known() { local why=$1; shift; if "$@"; then echo "XPASS (fixed? $why): $*"; pass=$((pass+1));
          else echo "XFAIL ($why): $*"; xfail=$((xfail+1)); fi; }

# run EXPECTED_RC TEXT -- command...: the exit code is EXPECTED_RC (not 0), exactly one line that is
# not a warning, banner or progress line contains TEXT (fixed string), and there is no other one.
# trained OUT_DIR -- command...: a run that must succeed and leave OUT_DIR/ckpt-*; output in out.txt.
last=""
run() {
  local want=$1 text=$2; shift 3
  "$@" >out.txt 2>&1; local rc=$?
  last=$(grep -v -E -e '^climp: warning:' -e '^climp train: .* parameters\) on ' -e '^train ' \
    -e '^climp train: checkpoint ' -e '^climp train: [0-9]+ bad samples skipped' out.txt)
  [ "${CLIMP_HOSTILE_VERBOSE:-0}" = 1 ] && printf '[%s] rc=%d\n%s\n' "$*" $rc "$(cat out.txt)"
  local n; n=$(printf '%s' "$last" | grep -c '')
  if [ $rc -ne "$want" ] || [ "$n" -ne 1 ] || ! grep -qF -- "$text" <<<"$last"; then
    echo "FAIL: [$*] rc=$rc (want $want), $n error lines (want 1 with '$text'):"
    sed 's/^/    /' out.txt | head -5
    fail=$((fail+1)); return 1
  fi
  pass=$((pass+1))
}
trained() {
  local dir=$1; shift 2
  "$@" >out.txt 2>&1; local rc=$?
  [ "${CLIMP_HOSTILE_VERBOSE:-0}" = 1 ] && printf '[%s] rc=%d\n%s\n' "$*" $rc "$(cat out.txt)"
  if [ $rc -ne 0 ] || ! ls "$dir"/ckpt-*/model.safetensors >/dev/null 2>&1; then
    echo "FAIL: [$*] rc=$rc, no checkpoint in $dir:"; sed 's/^/    /' out.txt | tail -5
    fail=$((fail+1)); return 1
  fi
  pass=$((pass+1))
}
nothing_written() { ! ls "$1"/ckpt-* "$1"/*.tmp >/dev/null 2>&1; }

# ------------------------------------------------------------ command lines: exit 2, one line
for args in "--bogus-flag" "--batch-size 0" "--batch-size abc" "--batch-size" "--lr -1" \
            "--lr 1e30" "--lr nan" "--image-size 0" "--image-size 99999" "--steps -5" \
            "--epochs 0" "--steps 2 --epochs 1" "--max-nan-steps 0" "--accum-steps 0" \
            "--lr-schedule sometimes" "--resume --model-config tiny"; do
  # shellcheck disable=SC2086
  if [ "$args" = "--resume --model-config tiny" ]; then
    run 2 "--resume needs --save-dir" -- "$BIN" train $args
  else
    run 2 "climp" -- "$BIN" train $args --save-dir "$tmp/never"
  fi
done
ok test ! -e "$tmp/never"
run 2 "cannot create --save-dir /proc/climp-no/x" -- "$BIN" train --save-dir /proc/climp-no/x
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  mkdir ro; chmod 555 ro
  run 2 "Permission denied" -- setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$BIN" train --save-dir "$tmp/ro/x"
elif [ "$(id -u)" != 0 ]; then
  mkdir ro; chmod 555 ro
  run 2 "Permission denied" -- "$BIN" train --save-dir "$tmp/ro/x"
fi
for c in eval embed search zeroshot; do
  run 2 "unknown option '--bogus'" -- "$BIN" $c --bogus
  run 2 "--model CKPT is required" -- "$BIN" $c
done
run 2 "--batch-size" -- "$BIN" eval --model x --data synthetic:4 --batch-size 0

"$BIN" devices >/dev/null 2>&1 || { echo "cli_hostile: $pass passed before the device part; skip: no OpenCL device"; [ $fail -eq 0 ] && exit 77; exit 1; }
small=(--image-size 32 --batch-size 4 --warmup 1)

# A regular file given as --save-dir is refused by the option check, before any training.
echo x >afile
"$BIN" train "${small[@]}" --steps 1 --data synthetic:8 --save-dir afile >out.txt 2>&1
ok test $? -eq 2
ok test "$(wc -l <out.txt)" -eq 1

# A bad --csv-separator is refused by the option check (train and the inference commands).
"$BIN" train "${small[@]}" --steps 1 --data x.tsv --csv-separator ab >out.txt 2>&1
ok test $? -eq 2
ok test "$(wc -l <out.txt)" -eq 1
ok grep -q "csv-separator 'ab'" out.txt
"$BIN" eval --model x --data x.tsv --csv-separator ab >out.txt 2>&1
ok test $? -eq 2
ok test "$(wc -l <out.txt)" -eq 1

# ------------------------------------------------------------ checkpoints: exit 1, one line
"$BIN" train "${small[@]}" --steps 1 --data synthetic:16 --save-dir ck 2>/dev/null
M=ck/ckpt-1/model.safetensors
ok test -s $M
ev() { run 1 "$2" -- "$BIN" eval --model "$1" --data synthetic:8 --image-size 32; }
for f in "$CORPUS"/safetensors/bad-*.safetensors; do
  case $f in
    *beyond-file*) want="header length 4096 is beyond the end of the file" ;;
    *absurd*) want="header length 200000000 is absurd" ;;
    *short*) want="file is 3 bytes, shorter than the 8-byte header length" ;;
    *json*) want="header is not valid JSON" ;;
    *past-end*) want="tensor 'a': data_offsets end 16 is past the end of the file" ;;
    *overlap*) want="tensor 'b': data overlaps tensor 'a'" ;;
    *size-mismatch*) want="tensor 'a': data_offsets span 8 bytes but F32 shape needs 12" ;;
    *dtype*) want="tensor 'a': unknown dtype 'F31'" ;;
    *duplicate*) want="tensor 'a': duplicate key" ;;
    *negative-dim*) want="tensor 'a': shape[0] is not a non-negative integer" ;;
    *utf8*) want="header is not valid UTF-8" ;;
    *) want="$f" ;;
  esac
  ev "$f" "$(basename "$f"): $want"
done
# Files derived from a good checkpoint by editing its header in place (same lengths).
perl -0777 -pe 's/embed_dim\\":128/embed_dim\\":120/' $M >shape.safetensors
perl -0777 -pe 's/"logit_scale":/"logit_scalX":/' $M >missing.safetensors
perl -0777 -pe 's/("logit_scale":\{"dtype":)"F32"/$1"I32"/' $M >dtype.safetensors
head -c 100000 $M >truncated.safetensors
ev shape.safetensors "shape.safetensors: tensor 'vision_projection.weight' has shape (128, 96), expected (120, 96)"
ev missing.safetensors "missing.safetensors: missing tensor logit_scale"
ev dtype.safetensors "dtype.safetensors: tensor 'logit_scale' has dtype I32, which cannot be read as float32"
ev truncated.safetensors "truncated.safetensors: tensor '"
ev "$SRC/tests/fixtures/climp_mamba1_tiny.safetensors" "unexpected tensor final.logit_scale"
ev "$CORPUS/safetensors/valid-dtypes.safetensors" \
   "cannot infer the model configuration: no vision_encoder.patch_embed.5.weight"
ev nonexistent.safetensors "nonexistent.safetensors: No such file or directory"
mkdir emptydir
ev emptydir "no complete checkpoint in emptydir"
# --init with a bad file: exit 1, nothing written.
run 1 "shape.safetensors: tensor 'vision_projection.weight'" -- \
  "$BIN" train "${small[@]}" --steps 1 --data synthetic:8 --init shape.safetensors --save-dir s1
ok nothing_written s1

# ------------------------------------------------------------ tokenizer.json: exit 1, one line
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [' >tk-malformed.json
printf '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a c"]}}' >tk-merge.json
printf '{"model":{"type":"BPE","vocab":{"a":33554432},"merges":[]}}' >tk-id.json
printf '{"model":{"type":"BPE","vocab":{"\xc3\x28":0},"merges":[]}}' >tk-utf8.json
tail -c +2 "$CORPUS/tokenizer/json-small.bin" | tr '\0' '\n' | head -n 1 >tk-308.json
tk() {
  run 1 "$2" -- "$BIN" train "${small[@]}" --steps 1 --data synthetic:8 --tokenizer "$1" --save-dir s2
  ok nothing_written s2
}
tk tk-malformed.json "tk-malformed.json: malformed JSON at line 1, column 57"
tk tk-merge.json "tk-merge.json: merges[0] names 'c', which is not in the vocab"
tk tk-id.json "tk-id.json: model.vocab['a'] is 33554432, not an integer id in [0, 16777216)"
tk tk-utf8.json "tk-utf8.json: not valid UTF-8 at byte 33"
tk tk-308.json "tokenizer tk-308.json has 308 ids but the model's embedding has 264 rows"
tk nonexistent.json "nonexistent.json: cannot open tokenizer (No such file or directory)"

# ------------------------------------------------------------ TSV rows and images
mkdir d
cp "$CORPUS"/image/* d/
{
  printf 'filepath\ttitle\n'
  for f in rgb.png grey.png palette.png rgba.png grey16.png one.png rgb.jpg progressive.jpg \
           grey.jpg cmyk.jpg rgb.bmp rgb.gif huge-declared.png zero-size.png truncated.jpg \
           truncated.png missing.png; do printf '%s\tan image called %s\n' $f $f; done
  printf 'rgb.png\t\n'
  printf 'rgb.png\tbad \xff utf-8\n'
  printf 'rgb.png\t'; head -c 1048576 /dev/zero | tr '\0' 'a'; printf '\n'
  printf '../d/rgb.png\tup and back\n'
  printf 'a short row\n'
} >d/data.tsv
trained s3 -- "$BIN" train "${small[@]}" --steps 4 --no-shuffle --data d/data.tsv --save-dir s3
ok grep -q "^climp train: 5 bad samples skipped" out.txt
ok grep -q "d/data.tsv:19: empty caption; row skipped" out.txt
ok grep -q "d/data.tsv:20: caption is not valid UTF-8; row skipped" out.txt
ok grep -q "d/data.tsv:23: 1 fields, the header needs 2; row skipped" out.txt
ok grep -q "3 of 22 rows skipped .* 1 captions truncated to 4096 bytes" out.txt
ok grep -q "skipped sample 12: d/huge-declared.png: image declares 20000x20000 pixels, above the limit" out.txt
ok grep -q "skipped sample 13: d/zero-size.png: " out.txt
ok grep -q "skipped sample 14: d/truncated.jpg: not a decodable image" out.txt
ok grep -q "skipped sample 15: d/truncated.png: corrupt image" out.txt
ok grep -q "skipped sample 16: d/missing.png: cannot open (No such file or directory)" out.txt
ok test "$(grep -c 'skipped sample' out.txt)" -eq 5
printf 'filepath\ttitle\nnope1.png\ta\nnope2.png\tb\n' >d/allbad.tsv
run 1 "epoch 0 gave no full batch of 1" -- "$BIN" train "${small[@]}" --batch-size 1 --steps 1 --data d/allbad.tsv --save-dir s4
ok nothing_written s4
printf 'path\tcaption\nrgb.png\tx\n' >d/cols.tsv
run 1 "d/cols.tsv:1: header has no image column 'filepath'" -- "$BIN" train "${small[@]}" --steps 1 --data d/cols.tsv
printf 'filepath\ttitle\nrgb.png\t"never closed\n' >d/quote.tsv
run 1 "d/quote.tsv:2: quoted field is never closed" -- "$BIN" train "${small[@]}" --steps 1 --data d/quote.tsv
run 1 "d/nonexistent.tsv: cannot open (No such file or directory)" -- "$BIN" train "${small[@]}" --steps 1 --data d/nonexistent.tsv
# Images given directly: one line naming the file, exit 1.
run 1 "d/truncated.jpg: not a decodable image" -- "$BIN" zeroshot --model ck --classes "red,green" d/truncated.jpg
run 1 "d/huge-declared.png: image declares 20000x20000 pixels" -- "$BIN" zeroshot --model ck --classes "red,green" d/huge-declared.png

# ------------------------------------------------------------ tar shards
mkdir t
(cd t && cp ../d/rgb.png 000.png && head -c 1100000 /dev/zero | tr '\0' 'b' >000.txt &&
 cp ../d/rgb.png 001.png && printf 'a fine caption' >001.txt && tar cf big.tar 000.png 000.txt 001.png 001.txt &&
 tar cf two.tar 001.png 001.txt 000.png 000.txt && head -c 5000 two.tar >cut.tar)
trained s5 -- "$BIN" train "${small[@]}" --batch-size 1 --steps 2 --no-shuffle --data t/big.tar --save-dir s5
ok grep -q "1 captions truncated" out.txt
trained s6 -- "$BIN" train "${small[@]}" --batch-size 1 --steps 2 --data t/cut.tar --save-dir s6
ok grep -q "t/cut.tar: member larger than the rest of the archive at offset 3072; shard indexed up to there" out.txt
H=$CORPUS/tar/hostile.tar
trained s7 -- "$BIN" train "${small[@]}" --batch-size 1 --steps 2 --no-shuffle --data "$H" --save-dir s7
ok grep -q "tar member '../evil.png' is absolute or leaves the folder; skipped" out.txt
ok grep -q "tar member '/abs.txt' is absolute or leaves the folder; skipped" out.txt
ok grep -q "3 samples from 1 shards; skipped: 0 bad shards, 1 incomplete samples, 1 webp-only (unsupported), 4 unsafe member names" out.txt
ok grep -q "hostile.tar: sample 0 has an empty caption" out.txt
ok grep -q "hostile.tar: sample 1 caption is not valid UTF-8" out.txt
run 1 "truncated.tar': no usable samples in 1 shard(s) (1 bad shards" -- "$BIN" train "${small[@]}" --steps 1 --data "$CORPUS/tar/truncated.tar" --save-dir s8
ok grep -q "truncated.tar: truncated header at offset 1536" out.txt
run 1 "member-too-large.tar': no usable samples" -- "$BIN" train "${small[@]}" --steps 1 --data "$CORPUS/tar/member-too-large.tar" --save-dir s8
ok grep -q "member larger than the rest of the archive at offset 0" out.txt
run 1 "'t/{0..2}.tar': no usable samples in 3 shard(s) (3 bad shards" -- "$BIN" train "${small[@]}" --steps 1 --data "t/{0..2}.tar" --save-dir s8
ok nothing_written s8

echo "cli_hostile: $pass passed, $fail failed, $xfail known failures (reported bugs)"
[ $fail -eq 0 ]
