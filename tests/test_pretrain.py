"""`pasar.pretrain`: cleaning rules, dedup, the corpus pipeline and the regional tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.pretrain.clean import QualityRules, normalize, quality_problem
from pasar.pretrain.data import is_heldout, language_problem, prepare_corpus, read_documents
from pasar.pretrain.dedup import unique_documents
from pasar.pretrain.tokenizer import capped, tokens_per_char, train_tokenizer

THAI = "รัฐบาลเร่งเจรจาเพิ่มการจัดหาวัคซีนจากหลายบริษัทเพื่อให้คนไทยปลอดภัย"
VIETNAMESE = "Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam."


def test_normalize():
    decomposed = "Vie\u0302\u0323t Nam"  # e + circumflex + dot below, as separate code points
    assert normalize(decomposed) == "Việt Nam" and len(normalize(decomposed)) == 8
    assert normalize("  a\u200bb \t c\x07\n\n\n  d  ") == "ab c\nd"
    assert normalize("Headline\nHeadline\nBody\nHeadline") == "Headline\nBody\nHeadline"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Ayah saya guru.", "too_short"),
        ("12345 67890 !!! ### 2024-01-01 10:00", "few_letters"),
        ("Baca juga berita ini\n" * 4 + "Harga cabai naik lagi di pasar", "repeated_lines"),
        (" ".join(["murah"] * 40 + [f"kata{i}" for i in range(20)]), "repeated_word"),
        (THAI, None),
        (VIETNAMESE, None),
    ],
)
def test_quality_rules_each_can_fail(text, problem):
    assert quality_problem(text) == problem


def test_quality_rules_are_configurable():
    assert quality_problem("Ayah saya guru.", QualityRules(min_chars=10)) is None


def test_language_check_and_malay_indonesian_confusion():
    assert language_problem(VIETNAMESE, "vi") == (None, "vi")
    assert language_problem(VIETNAMESE, "th") == ("wrong_language", "vi")
    # lingua confuses Malay and Indonesian: kept, and the detected language is reported
    assert language_problem("Saya mahu membeli kasut baru.", "id")[0] is None
    assert language_problem("Saya ingin membeli sepatu baru.", "ms")[0] is None


def test_exact_and_near_duplicates():
    base = VIETNAMESE + " Thành phố có dân số khoảng tám triệu người và nhiều di tích lịch sử."
    near = base.replace("tám", "chín")
    other = "Sông Hồng chảy qua nhiều tỉnh phía bắc trước khi đổ ra biển Đông ở Thái Bình."
    results = list(unique_documents([base, base, near, other], "vi", threshold=0.7))
    assert [problem for _, problem in results] == [None, "exact_duplicate", "near_duplicate", None]
    thai = list(unique_documents([THAI, THAI + "ครับ", THAI[::-1]], "th", threshold=0.7))
    assert [problem for _, problem in thai] == [None, "near_duplicate", None]


def test_corpus_pipeline_report_split_and_resume(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vi_docs = [
        VIETNAMESE,
        VIETNAMESE,
        "Short.",
        THAI,
        *(f"Bài viết số {i} nói về lịch sử và văn hóa của vùng đất phương Nam." for i in range(40)),
    ]
    (corpus / "vi.txt").write_text("\n\n".join(vi_docs))
    (corpus / "ms.txt").write_text(
        "Ayah saya seorang guru di sekolah.\nCuaca di Tokyo cerah hari ini.\n"
    )
    out = tmp_path / "out"
    report = prepare_corpus(corpus, out, heldout_share=0.2, threshold=0.9, progress=False)
    vi = report["languages"]["vi"]
    assert vi["documents_in"] == 44
    assert vi["removed"]["too_short"] == 1
    assert vi["removed"]["wrong_language"] == 1 and vi["detected_languages"]["th"] == 1
    assert vi["removed"]["exact_duplicate"] == 1
    train = [json.loads(x)["text"] for x in (out / "vi" / "train.jsonl").read_text().splitlines()]
    held = [json.loads(x)["text"] for x in (out / "vi" / "heldout.jsonl").read_text().splitlines()]
    assert (
        len(train) + len(held) == vi["documents_kept"] == 44 - 3 - vi["removed"]["near_duplicate"]
    )
    assert not set(train) & set(held) and held and all(is_heldout(t, 0.2) for t in held)
    assert (
        report["languages"]["ms"]["train_documents"]
        + report["languages"]["ms"]["heldout_documents"]
        == 2
    )
    # resume: a language with a report is not redone
    (out / "vi" / "train.jsonl").write_text("")
    again = prepare_corpus(corpus, out, heldout_share=0.2, progress=False)
    assert again["languages"]["vi"] == vi and (out / "vi" / "train.jsonl").read_text() == ""
    with pytest.raises(FileNotFoundError, match="th.txt"):
        prepare_corpus(corpus, out, languages=("th",))


def test_read_documents_blank_lines_or_lines(tmp_path: Path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\nthree\n")
    (tmp_path / "b.txt").write_text("one\ntwo\n")
    assert read_documents(tmp_path / "a.txt") == ["one\ntwo", "three\n"]
    assert read_documents(tmp_path / "b.txt") == ["one", "two"]


def test_tokenizer_round_trips_every_language_and_beats_a_latin_one(tmp_path: Path):
    ntrex = SHARED_DATA / "ntrex"
    texts = {
        code: (ntrex / f"newstest2019-ref.{name}.txt").read_text("utf-8").splitlines()
        for code, name in {
            "th": "tha",
            "vi": "vie",
            "id": "ind",
            "ms": "msa",
            "tl": "fil",
            "en": "eng-US",
        }.items()
    }
    train = {code: lines[:1500] for code, lines in texts.items()}
    tokenizer = train_tokenizer(train, vocab_size=4000, out_dir=tmp_path / "tok", max_chars=150_000)
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for code, lines in texts.items():
        sample = "\n".join(lines[1500:1510])
        ids = loaded(sample, add_special_tokens=False)["input_ids"]
        assert loaded.decode(ids) == normalize(sample) or loaded.decode(ids) == sample, code
    assert loaded.convert_tokens_to_ids("<|im_end|>") == 2
    english_only = train_tokenizer(
        {"en": train["en"]}, vocab_size=4000, out_dir=tmp_path / "en", max_chars=150_000
    )
    thai = texts["th"][1500:]
    assert tokens_per_char(tokenizer, thai) < 0.5 * tokens_per_char(english_only, thai)
    assert capped(["abcd", "efgh", "ijkl"], 6) == ["abcd", "ef"]
    with pytest.raises(ValueError, match="at least 300"):
        train_tokenizer(train, vocab_size=100, out_dir=tmp_path / "x")


def test_cli_data_tokenizer_and_extend_vocab(tmp_path: Path, tiny_hf_dir: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = (SHARED_DATA / "ntrex" / "newstest2019-ref.tha.txt").read_text("utf-8").splitlines()
    (corpus / "th.txt").write_text("\n".join(lines[:600]))
    runner = CliRunner()
    result = runner.invoke(
        app, ["pretrain", "data", "--corpus", str(corpus), "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "pretrain",
            "tokenizer",
            "--data",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "t"),
            "--vocab-size",
            "2000",
            "--english",
            str(SHARED_DATA / "ntrex" / "newstest2019-ref.eng-US.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "t" / "report.json").read_text())
    assert set(report["tokens_per_char"]) == {"th", "en"}
    th = report["tokens_per_char"]["th"]
    assert th["ours"] < th["smollm2-135m-instruct"]  # even 2,000 tokens beat SmolLM2 on Thai
    result = runner.invoke(
        app, ["pretrain", "tokenizer", "--data", str(corpus), "--out", str(tmp_path / "u")]
    )
    assert result.exit_code == 2 and "pasar pretrain data" in result.output
    result = runner.invoke(
        app,
        [
            "pretrain",
            "extend-vocab",
            "--model",
            str(tiny_hf_dir),
            "--tokenizer",
            str(tmp_path / "t"),
            "--new-tokens",
            "200",
            "--data",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert result.exit_code == 0, result.output
    extended = json.loads((tmp_path / "e" / "extend-report.json").read_text())
    assert (
        extended["tokens_added"] == 200
        and extended["vocab_after"] == extended["vocab_before"] + 200
    )
    th = extended["tokens_per_char"]["th"]
    assert th["after"] < th["before"]
    from pasar.models.registry import load_engine

    engine = load_engine(str(tmp_path / "e"))  # a model name like any other
    result = runner.invoke(
        app,
        [
            "pretrain",
            "eval",
            "--model",
            str(tmp_path / "e"),
            "--data",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "bpb.json"),
            "--max-bytes",
            "3000",
        ],
    )
    assert result.exit_code == 0, result.output
    bpb = json.loads((tmp_path / "bpb.json").read_text())["languages"]
    assert set(bpb) == {"th", "en"} and bpb["th"]["bytes"] <= 3000
    assert all(row["bits_per_byte"] > 0 for row in bpb.values())
    assert engine.chat([{"role": "user", "content": "สวัสดี"}], max_tokens=3).usage.completion_tokens


def test_vocabulary_extension_keeps_old_outputs_and_shortens_thai(
    tiny_hf_dir: Path, tmp_path: Path
):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pasar.pretrain.extend import extend_embeddings, extended_tokenizer, extension_merges

    thai = (SHARED_DATA / "ntrex" / "newstest2019-ref.tha.txt").read_text("utf-8").splitlines()
    regional = train_tokenizer(
        {"th": thai[:1500]}, vocab_size=1500, out_dir=tmp_path / "tok", max_chars=200_000
    )
    base = AutoTokenizer.from_pretrained(tiny_hf_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
    english = base("The parcel arrived on time.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = model(english).logits

    merges = extension_merges(base, regional, max_new=300)
    assert 0 < len(merges) <= 300
    tokens = [a + b for a, b in merges]
    extended = extended_tokenizer(base, merges, tmp_path / "ext")
    assert len(extended) == len(base) + len(merges)
    assert extended.convert_tokens_to_ids(tokens) == list(range(len(base), len(extended)))
    extend_embeddings(model, base, extended, tokens)

    # old tokens: same ids, same logits over the old vocabulary, before any training
    assert extended("The parcel arrived on time.")["input_ids"] == english[0].tolist()
    with torch.no_grad():
        after = model(english).logits
    assert after.shape[-1] == len(extended)
    torch.testing.assert_close(after[..., : len(base)], before)
    # a new token's embedding is the mean of the old tokens that spell it
    table = model.get_input_embeddings().weight
    spelled = base(base.convert_tokens_to_string([tokens[-1]]), add_special_tokens=False)
    torch.testing.assert_close(table[-1], table[spelled["input_ids"]].mean(dim=0))
    # Thai takes fewer tokens and still decodes to itself
    held = thai[1500:1600]
    assert tokens_per_char(extended, held) < 0.8 * tokens_per_char(base, held)
    ids = extended(held[0], add_special_tokens=False)["input_ids"]
    assert extended.decode(ids) == held[0] and max(ids) >= len(base)
    with pytest.raises(ValueError, match="embedding rows"):
        extend_embeddings(model, base, extended, tokens)  # the model is already extended


def test_bits_per_byte_on_known_inputs(tiny_hf_dir: Path):
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pasar.pretrain.bpb import bits_per_byte, capped_bytes, total_nll

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_hf_dir)
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # uniform over the vocabulary
    vocab = model.config.vocab_size
    ids = list(range(10, 30))
    # every token after the first is paid for exactly once, whatever the window
    for window in (2, 3, 7, 1024):
        assert total_nll(model, ids, window=window) == pytest.approx(19 * math.log(vocab))
    texts = [THAI, "Hello there."]
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    size = sum(len(t.encode()) for t in texts)
    assert bits_per_byte(model, tokenizer, texts, window=16) == pytest.approx(
        tokens * math.log2(vocab) / size
    )
    assert capped_bytes(["กขค", "more"], 4) == ["ก"]  # Thai letters are 3 bytes each
    assert capped_bytes(["ab", "cd", "ef"], 3) == ["ab", "c"]
    with pytest.raises(ValueError, match="window"):
        bits_per_byte(model, tokenizer, texts, window=1)
