#!/usr/bin/env python3
"""Fixture for tests/test_tokenizer.c: trains a small byte-level BPE tokenizer of the GPT-NeoX
construction with Hugging Face `tokenizers` and records the ids it gives for >= 3000 strings.

Construction (as EleutherAI/gpt-neox-20b's tokenizer.json, see architecture.md section 2.3):
NFC normalizer, ByteLevel pre-tokenizer (add_prefix_space false, GPT-2 regex), BPE model,
ByteLevel post-processor and decoder; added tokens <|endoftext|> (id 0) and <|padding|> (id 1),
special and not normalized; runs of 12 down to 2 spaces, not special and normalized. Three more
added tokens exercise the `normalized` flag: a normalized one whose content is NFD ("cafe" +
U+0301, matched against NFC text as "café"), a normalized one that NFC changes (two U+212B
ANGSTROM SIGN, matched as two U+00C5), and a non-normalized one written in NFD ("<n" + U+0303
+ ">", matched only against raw input in that exact form).

Writes, into the output folder (default tests/fixtures/tokenizer):
  tokenizer.json   the trained tokenizer, merges as [a, b] pairs (the newer format)
  expected.jsonl   one JSON object per line: {"hex": the input bytes in hex, "ids": [...]}
                   (hex keeps NUL and invalid UTF-8 intact and the file under 1 MB). Rows with
                   invalid UTF-8 carry "invalid_utf8": true; their ids are what HF gives for
                   bytes.decode("utf-8", errors="replace"), the behaviour climp documents.

Run (needs only the `tokenizers` wheel, no network once installed):
  /usr/bin/python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers
  /tmp/tokvenv/bin/python tests/reference/make_tokenizer_fixture.py [outdir]
"""
import json
import os
import random
import sys
import tempfile
import unicodedata

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers

SEED = 20240601
VOCAB_SIZE = 2000
SPACE_RUNS = list(range(12, 1, -1))  # GPT-NeoX lists 24 spaces down to 2; ids ascend

ENGLISH = """the a an of and to in is was for on with as by at from that this it be are were
photo picture image of dog cat bird car tree house street man woman child children people
red green blue yellow black white small large big little old new running sitting standing
walking flying near next under over beside behind front water grass sky cloud mountain river
beach city road table chair window door kitchen room garden park field forest snow rain sun
isn't don't can't won't it's he's she's they're we're you're i'm i've we'll they'd that's
playing holding looking eating wearing riding carrying jumping smiling laughing reading""".split()
LATIN = """café naïve résumé façade jalapeño über straße fräulein garçon crème brûlée piñata
señor coöperate déjà vu élève œuvre smörgåsbord ångström København Zürich São Paulo
Málaga Łódź Kraków Brașov İstanbul Ærøskøbing""".split()
GREEK = "καλημέρα κόσμε φωτογραφία σκύλος γάτα θάλασσα ουρανός Αθήνα ελληνικά λέξη".split()
CYRILLIC = "привет мир фотография собака кошка море небо Москва русский язык ёлка Київ".split()
CJK = ["猫", "狗", "一只猫坐在桌子上", "东京", "日本語のテキスト", "ひらがな", "カタカナ",
       "한국어", "사진", "北京烤鸭", "山と川", "漢字"]
EMOJI = ["😀", "🐶", "🐱", "🚗", "🌳", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "✨", "🎉🎉", "☕"]
OTHER = ["עברית", "العربية", "हिन्दी", "ภาษาไทย", "ქართული", "Ελλάδα", "١٢٣", "Ⅻ", "½", "²³",
         "№", "€100", "£5", "¥", "©", "™", "°C", "…", "—", "–", "«guillemets»", "„quotes“"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["...", "--", "?!", "!!!", "''", "'s",
                                                      "'t", "'re", "'ve", "'m", "'ll", "'d"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "    ", "\t\t", "\u00a0", "\u3000"]


def random_word(rng):
    r = rng.random()
    if r < 0.55:
        w = rng.choice(ENGLISH)
        return w.capitalize() if rng.random() < 0.15 else w
    if r < 0.65:
        return rng.choice(LATIN)
    if r < 0.70:
        return rng.choice(GREEK)
    if r < 0.75:
        return rng.choice(CYRILLIC)
    if r < 0.80:
        return rng.choice(CJK)
    if r < 0.84:
        return rng.choice(EMOJI)
    if r < 0.88:
        return rng.choice(OTHER)
    if r < 0.94:
        return str(rng.randint(0, 10 ** rng.randint(1, 7)))
    return rng.choice(PUNCT)


def random_sentence(rng, n_words):
    parts = []
    for i in range(n_words):
        if i:
            parts.append(" " if rng.random() < 0.8 else rng.choice(SPACES))
        parts.append(random_word(rng))
        if rng.random() < 0.1:
            parts.append(rng.choice(PUNCT))
    return "".join(parts)


def corpus(rng, n):
    return [random_sentence(rng, rng.randint(3, 25)) for _ in range(n)]


def build_tokenizer(rng):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(rng, 20000), trainer=trainer)
    tok.add_tokens([AddedToken(" " * k, normalized=True, special=False) for k in SPACE_RUNS])
    tok.add_tokens([AddedToken("cafe\u0301", normalized=True, special=False),
                    AddedToken("\u212b\u212b", normalized=True, special=False),
                    AddedToken("<n\u0303>", normalized=False, special=False)])
    return tok


def test_strings(rng):
    s = ["", " ", "a", "hello world", "Hello, World!", "<|endoftext|>", "<|padding|>"]
    for k in range(1, 31):
        sp = " " * k
        s += [sp, sp + "x", "x" + sp, "x" + sp + "y", sp + "hello" + sp, "\n" + sp, sp + "\n",
              "\t" * k, "\n" * k, sp + "<|endoftext|>" + sp, "a" + sp + "1" + sp + "!"]
    s += ["\t", "\n", "\r\n", " \t \n ", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085",
          "\u200b", "\ufeff", "a\u00a0b", "a \u00a0b", "a\u3000\u3000b", "x\x0by\x0cz", "\x1c\x1f",
          "\x01\x02\x7f", "a\u2003 b", " \u2009x", "end \n", "end  \n\n", "end\n  "]
    s += ["don't", "I'M", "I'm", "'s", "''s", "it's'", "y'all'll", "we're they've I'd you'll",
          "'S 'T 'RE", "rock'n'roll", "o'clock", "'", "''", "' s", "x's", "?'s", "'ss", "'tis",
          "l'été", "'réunion", "the dog's bone", "it'd've", "\u2019s", "don\u2019t"]
    s += ["123456", "3.14159", "1,000,000", "2024-06-01", "v1.2.3", "١٢٣٤", "Ⅻ Ⅳ", "½ ¾", "x²",
          "٣ apples", "4th", "A1B2C3", " 42", "  42", "0x1F", "-5", "+7", "1e10"]
    s += ["e\u0301", "cafe\u0301", "café", "Cafe\u0301 au lait", "\u212b", "\u212b\u212b",
          "Å", "ÅÅ", "ÅÅÅ", "\u1e9b\u0323", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100"
          "\u116e\u11a8", "o\u0308\u0301", "a\u0328\u0301", "\u0301", "\u0301\u0301x",
          "<n\u0303>", "<ñ>", "x<n\u0303>y", "x <n\u0303> y", "cafe\u0301cafe\u0301",
          "un café s'il vous plaît", "ﬁ ligature", "Ǆ", "ǅ"]
    s += ["hello<|endoftext|>world", "<|endoftext|><|padding|>", "<|endoftext", "|endoftext|>",
          "<|endoftext|> ", " <|endoftext|>", "a <|padding|> b", "<|endoftext|><|endoftext|>",
          "<<|endoftext|>>", "<|end<|endoftext|>oftext|>", "e\u0301<|endoftext|>\u0301",
          "x  <|padding|>  y", "<|ENDOFTEXT|>"]
    s += CJK + EMOJI + OTHER + GREEK + CYRILLIC + LATIN
    s += ["Hello 世界", "mixed Ελληνικά and English", "Москва 2024!", "🐶 dog 🐱cat",
          "日本語 text 123", "a\u200db", "👨\u200d👩\u200d👧 family", "x🇫🇷y", "ﾊﾝｶｸ",
          "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚", "\U0001f600" * 5, "\U000e0041", "\ue000", "\U0010fffd"]
    s += ["a" * 300, "ab" * 200, " " * 100, "x " * 150, "!" * 80, "😀" * 40, "é" * 60,
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
    # Random sentences from the training distribution and unseen character soup.
    s += corpus(rng, 1500)
    alphabet = ("abcxyzABC   \t\n'.,!?0189" + "éèüñçÅ" + "αβγ" + "жщы" + "猫狗" + "😀🐶" +
                "\u0301\u0308\u0303" + "\u00a0\u3000\u2028" + "<|>")
    for _ in range(1200):
        s.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    for _ in range(300):
        pieces = [rng.choice(["<|endoftext|>", "<|padding|>", "  ", "   ", "cafe\u0301", "café",
                              "<n\u0303>", "\u212b\u212b", "ÅÅ"]) for _ in range(3)]
        words = [random_word(rng) for _ in range(3)]
        s.append("".join(a + b for a, b in zip(words, pieces)))
    out, seen = [], set()
    for t in s:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def invalid_utf8_strings(rng):
    s = [b"\xff", b"\xfe\xff", b"abc\x80def", b"\xc3", b"\xc3(", b"caf\xc3", b"\xe2\x82",
         b"\xe2\x82(", b"\xf0\x9f\x98", b"\xf0\x9f\x98 ok", b"\xed\xa0\x80", b"\xc0\xaf",
         b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"a\x00b", b"\x00",
         b"  \x80  ", b"\x80\x80\x80", b"\xe2\x28\xa1", b"ok\xf0\x28\x8c\xbc", b"\xc3\xa9\xa9",
         b"<|endoftext|>\xff<|padding|>", b"\xef\xbb\xbf" + b"bom"]
    base = b"abc \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 xyz"
    for _ in range(60):
        b = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        s.append(bytes(b))
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures",
                                                                "tokenizer")
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(SEED)
    tok = build_tokenizer(rng)
    path = os.path.join(outdir, "tokenizer.json")
    tok.save(path, pretty=True)
    tok = Tokenizer.from_file(path)  # encode with exactly what the C side will read

    # The legacy "a b" merge strings must give identical ids (the C test checks both forms).
    d = json.load(open(path, encoding="utf-8"))
    assert isinstance(d["model"]["merges"][0], list)
    d["model"]["merges"] = [a + " " + b for a, b in d["model"]["merges"]]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False)
    legacy = Tokenizer.from_file(f.name)
    os.unlink(f.name)

    rows = []
    for t in test_strings(rng):
        ids = tok.encode(t).ids
        assert legacy.encode(t).ids == ids
        rows.append({"hex": t.encode("utf-8").hex(), "ids": ids})
    for b in invalid_utf8_strings(rng):
        t = b.decode("utf-8", errors="replace")
        rows.append({"hex": b.hex(), "ids": tok.encode(t).ids, "invalid_utf8": True})
    with open(os.path.join(outdir, "expected.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    n_ids = sum(len(r["ids"]) for r in rows)
    print(f"vocab {tok.get_vocab_size()} (model {tok.get_vocab_size(False)}), "
          f"{len(rows)} strings, {n_ids} ids -> {outdir}")
    assert unicodedata.normalize("NFC", "e\u0301") == "\u00e9"


if __name__ == "__main__":
    main()
