"""The deepfake metadata signal (takedown_core.likeness): a catalogue artist's name beside words
that say it is AI, on word boundaries, in any language configured, and nothing less."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from takedown_core.likeness import (
    FIELDS,
    MAX_HITS,
    Hit,
    LikenessConfigError,
    LikenessRules,
    LikenessSignal,
    words,
)

ROOT = Path(__file__).resolve().parents[2]

CONFIG = {
    "artists": [
        {"id": "lanterns", "name": "The Lanterns", "aliases": ["Lanterns", "Лантернс", "ランタンズ"]},
        {"id": "beyonce", "name": "Beyoncé"},
        {"id": "ai", "name": "Ai"},
        {"id": "mo", "name": "Mø"},
    ],
    "terms": {
        "en": ["ai", "ai cover", "voice model", "rvc", "suno", "not real"],
        "es": ["ia", "cover ia", "no es real"],
        "de": ["ki", "ki cover"],
        "ja": ["AIカバー"],
    },
}
RULES = LikenessRules.from_config(CONFIG)


def find(**fields):
    return RULES.find(fields)


def artist_of(**fields):
    signal = find(**fields)
    return signal.artist_id if signal else None


# --------------------------------------------------------------------------- both are needed


@pytest.mark.parametrize("fields", [
    {"title": "Lanterns - Midnight Harbour (AI cover)"},
    {"title": "The Lanterns – Midnight Harbour", "tags": ["rvc"]},
    {"uploader": "lanterns_ai", "title": "Midnight Harbour"},
    {"title": "Midnight Harbour", "description": "The Lanterns but it's Suno"},
    {"title": "Midnight Harbour", "uploader": "The Lanterns fan", "description": "voice model: mine"},
    {"tags": ["the lanterns", "ai cover"]},
])
def test_given_an_artist_and_a_term_in_any_fields_then_a_signal(fields):
    assert artist_of(**fields) == "lanterns"


@pytest.mark.parametrize("fields", [
    {"title": "Midnight Harbour (AI cover)", "tags": ["rvc", "voice model"], "description": "made with Suno, not real"},
    {"uploader": "KI covers daily", "title": "Some song (cover ia)"},
    {"title": "KI-Cover", "description": "Suno"},
])
def test_given_a_term_without_an_artist_then_nothing(fields):
    assert find(**fields) is None


@pytest.mark.parametrize("fields", [
    {"title": "The Lanterns - Midnight Harbour (live at Glastonbury)"},
    {"title": "Lanterns", "uploader": "The Lanterns", "description": "Official video", "tags": ["lanterns", "indie"]},
    {"title": "Beyoncé - Halo (piano cover)"},
])
def test_given_an_artist_without_a_term_then_nothing(fields):
    assert find(**fields) is None


def test_given_nothing_then_nothing():
    assert find() is None
    assert find(title=None, uploader="", description=None, tags=[]) is None
    assert LikenessRules.from_config(None).find({"title": "The Lanterns (AI cover)"}) is None
    assert LikenessRules.from_config({}).find({"title": "The Lanterns (AI cover)"}) is None


# --------------------------------------------------------------------------- aliases, accents, scripts


@pytest.mark.parametrize(("title", "found"), [
    ("LANTERNS (AI cover)", "LANTERNS"),
    ("lanterns (AI cover)", "lanterns"),
    ("The  Lanterns (AI cover)", "The Lanterns"),             # however spaced (shown on one line, spaced once)
    ("the-lanterns (AI cover)", "the-lanterns"),              # words joined by punctuation
    ("#TheLanterns #AICover", "#TheLanterns"),               # written together, as a hashtag
    ("Лантернс – Полночь (AI cover)", "Лантернс"),           # an alias in another script
    ("ＬＡＮＴＥＲＮＳ (AI cover)", "ＬＡＮＴＥＲＮＳ"),           # full-width letters
])
def test_given_an_alias_however_written_then_it_names_the_artist(title, found):
    signal = find(title=title)
    assert signal is not None and signal.artist_id == "lanterns"
    assert signal.names[0].found == found


@pytest.mark.parametrize("title", ["Beyonce - Halo (AI cover)", "BEYONCÉ - Halo (AI cover)", "beyoncé halo ai cover",
                                   "Beyonce\u0301 - Halo (AI cover)"])
def test_given_an_artist_with_an_accent_then_it_is_found_with_or_without_it(title):
    assert artist_of(title=title) == "beyonce"


def test_given_a_configured_name_without_its_accent_then_the_accented_upload_is_found_too():
    rules = LikenessRules.from_config({"artists": [{"id": "celine", "name": "Celine Dion"}], "terms": {"en": ["ai"]}})
    assert rules.find({"title": "CÉLINE DION - My Heart (AI)"}).artist_id == "celine"


def test_given_an_accented_term_then_it_matches_without_its_accents():
    rules = LikenessRules.from_config({"artists": [{"id": "l", "name": "The Lanterns"}],
                                       "terms": {"fr": ["généré par l'ia"], "pt": ["não é real"]}})
    assert rules.find({"title": "The Lanterns (genere par l IA)"}).terms[0].text == "généré par l'ia"
    assert rules.find({"title": "The Lanterns — nao e real"}).terms[0].lang == "pt"


def test_given_a_name_in_a_script_without_spaces_then_it_is_found_as_a_run_of_characters():
    signal = find(title="【ランタンズ】新曲", tags=["AIカバー"])
    assert signal.artist_id == "lanterns" and signal.terms[0].found == "AIカバー"


def test_given_a_stroke_letter_then_it_is_not_folded_away():
    # NFKD does not decompose ø: "Mø" is "mø", never "m"
    assert artist_of(title="Mø - Lean On (AI cover)") == "mo"
    assert find(title="M - Lean On (AI cover)") is None


# --------------------------------------------------------------------------- word boundaries


@pytest.mark.parametrize("fields", [
    {"title": "Aitana - Mon Amour (AI cover)"},             # the artist "Ai" is not in "Aitana"
    {"title": "Lanterns", "tags": ["arvcx", "ains", "kiwi", "iab"]},  # no term inside another word
    {"title": "Lanternsong (AI cover)"},                    # the alias is not inside a longer word
    {"title": "Lantern (AI cover)"},                        # nor a shorter one
    {"title": "Flanterns (AI cover)"},
    {"title": "The Lanterns — Midnight Harbour", "description": "Raised in Maine, Suno's friend"},  # Suno's -> suno, s
])
def test_given_a_name_or_term_only_inside_another_word_then_it_does_not_count(fields):
    signal = find(**fields)
    if "Suno's" in fields.get("description", ""):  # an apostrophe separates words: "Suno's" does say Suno
        assert signal is not None and signal.terms[0].found == "Suno"
    else:
        assert signal is None


def test_given_tags_then_words_never_run_from_one_tag_into_the_next():
    assert find(tags=["the", "lanterns", "ai"]).names[0].found == "lanterns"  # "Lanterns" alone is an alias
    assert find(tags=["lanterns ai"]) is not None
    assert find(tags=["voice", "model"], title="The Lanterns") is None  # "voice model" spans two tags
    assert find(tags=["voice model"], title="The Lanterns") is not None


# --------------------------------------------------------------------------- an artist called "Ai"


def test_given_an_artist_called_ai_then_its_name_is_not_also_the_term():
    # (with an artist called "Ai" configured, "AI" alone in another field names that artist:
    # "AI covers daily" beside "cover ia" is a signal for Ai)
    assert artist_of(uploader="AI covers daily", title="Some song (cover ia)") == "ai"
    assert find(title="Ai - New Song") is None
    assert find(title="Ai - New Song", tags=["ai"]) is None  # a tag "ai" names the artist too
    assert find(title="AI", uploader="ai") is None


def test_given_an_artist_called_ai_with_a_longer_term_then_the_term_claims_its_own_word():
    signal = find(title="Ai - New Song (AI cover)")
    assert signal.artist_id == "ai"
    assert [(h.field, h.found) for h in signal.names] == [("title", "Ai")]
    assert [(h.field, h.text, h.found) for h in signal.terms] == [("title", "ai cover", "AI cover")]


def test_given_an_artist_called_ai_and_a_term_elsewhere_then_a_signal():
    assert artist_of(title="Ai - New Song", description="voice model") == "ai"


def test_given_another_artist_and_the_word_ai_then_it_is_a_term_for_that_artist():
    signal = find(title="The Lanterns - Midnight Harbour AI")
    assert signal.artist_id == "lanterns" and signal.terms[0].text == "ai"


# --------------------------------------------------------------------------- several artists


def test_given_two_artists_then_the_one_named_in_more_fields_is_chosen():
    assert artist_of(title="Beyoncé x The Lanterns (AI cover)", tags=["lanterns"]) == "lanterns"
    assert artist_of(title="The Lanterns x Beyoncé (AI cover)", uploader="Beyoncé AI") == "beyonce"


def test_given_two_artists_in_one_field_then_the_configuration_order_decides():
    assert artist_of(title="Beyoncé x The Lanterns (AI cover)") == "lanterns"


# --------------------------------------------------------------------------- what a signal holds


def test_given_a_signal_then_it_holds_every_hit_in_field_order_and_round_trips_as_json():
    signal = find(title="Lanterns - Midnight Harbour (AI cover)", uploader="AI Covers Daily",
                  description="RVC v2 voice model. Not real!", tags=["the lanterns", "ai cover", "ai cover"])
    assert (signal.artist_id, signal.artist_name) == ("lanterns", "The Lanterns")
    assert [(h.field, h.text, h.found) for h in signal.names] == [
        ("title", "Lanterns", "Lanterns"), ("tags", "The Lanterns", "the lanterns")]
    assert [(h.field, h.text, h.lang, h.found) for h in signal.terms] == [
        ("title", "ai cover", "en", "AI cover"), ("uploader", "ai", "en", "AI"),
        ("description", "rvc", "en", "RVC"), ("description", "voice model", "en", "voice model"),
        ("description", "not real", "en", "Not real"), ("tags", "ai cover", "en", "ai cover")]
    stored = json.loads(json.dumps(signal.to_dict()))
    assert stored == {
        "artist": {"id": "lanterns", "name": "The Lanterns"},
        "names": [{"field": "title", "alias": "Lanterns", "found": "Lanterns"},
                  {"field": "tags", "alias": "The Lanterns", "found": "the lanterns"}],
        "terms": [{"field": "title", "term": "ai cover", "lang": "en", "found": "AI cover"},
                  {"field": "uploader", "term": "ai", "lang": "en", "found": "AI"},
                  {"field": "description", "term": "rvc", "lang": "en", "found": "RVC"},
                  {"field": "description", "term": "voice model", "lang": "en", "found": "voice model"},
                  {"field": "description", "term": "not real", "lang": "en", "found": "Not real"},
                  {"field": "tags", "term": "ai cover", "lang": "en", "found": "ai cover"}],
    }
    assert LikenessSignal.from_dict(stored) == signal


def test_given_a_signal_then_describe_says_it_in_one_plain_sentence():
    assert find(title="Lanterns - Song", tags=["AI cover"]).describe() == (
        "The title names The Lanterns (“Lanterns”), and the tags say “AI cover”.")
    assert find(title="The Lanterns - Song (AI cover)").describe() == "The title names The Lanterns and says “AI cover”."
    assert find(uploader="lanterns_ai").describe() == "The uploader's name includes The Lanterns (“lanterns”) and “ai”."
    assert find(title="Song (RVC)", description="by the lanterns; voice model, suno, not real, ai").describe() == (
        "The title says “RVC”, and the description names The Lanterns and says “voice model”, "
        "“suno”, “not real” and “ai”.")


def test_given_a_description_repeating_the_words_then_the_signal_stays_small_and_fast():
    description = ("The Lanterns AI cover, rvc, suno. " * 200)[:5000]
    tags = [f"ai cover {n}" for n in range(50)]
    start = time.perf_counter()
    signal = find(title="x" * 2048, description=description, tags=tags, uploader="Lanterns AI")
    assert time.perf_counter() - start < 1.0
    assert 0 < len(signal.names) <= MAX_HITS and 0 < len(signal.terms) <= MAX_HITS
    assert len(json.dumps(signal.to_dict())) < 4000


@pytest.mark.parametrize("stored", [
    None, {}, [], {"artist": {"id": "a", "name": "A"}, "names": [], "terms": [{"field": "title", "term": "ai", "found": "AI"}]},
    {"artist": {"id": "a", "name": "A"}, "names": [{"field": "title", "alias": "A", "found": "A"}], "terms": []},
    {"artist": {"id": "", "name": "A"}, "names": [{"field": "title", "alias": "A", "found": "A"}],
     "terms": [{"field": "title", "term": "ai", "found": "AI"}]},
    {"artist": {"id": "a", "name": "A"}, "names": [{"field": "body", "alias": "A", "found": "A"}],
     "terms": [{"field": "title", "term": "ai", "found": "AI"}]},
    {"artist": {"id": "a", "name": "A"}, "names": ["A"], "terms": [{"field": "title", "term": "ai", "found": "AI"}]},
])
def test_given_a_stored_signal_that_is_not_one_then_from_dict_refuses_it(stored):
    with pytest.raises(ValueError, match="likeness signal"):
        LikenessSignal.from_dict(stored)


def test_given_the_terms_in_a_partial_match_then_terms_in_finds_them_without_an_artist():
    assert [h.text for h in RULES.terms_in({"title": "Midnight Harbour (AI cover)", "tags": ["rvc"]})] == ["ai cover", "rvc"]
    assert RULES.terms_in({"title": "Ai - New Song"}, artist_id="ai") == ()
    assert [h.found for h in RULES.terms_in({"title": "Ai - New Song"})] == ["Ai"]
    assert RULES.terms_in({"title": "Midnight Harbour"}) == ()


def test_given_words_then_each_has_its_span_in_the_original_text():
    text = "Ǆemo — Beyonce\u0301's #AICover ｘ2"
    got = [(w.text, text[w.start:w.end]) for w in words(text)]
    assert got == [("dzemo", "Ǆemo"), ("beyonce", "Beyonce\u0301"), ("s", "s"), ("aicover", "AICover"), ("x2", "ｘ2")]


def test_given_the_fields_then_they_are_title_uploader_description_and_tags():
    assert FIELDS == ("title", "uploader", "description", "tags")
    assert Hit("title", "ai", "AI", "en").to_term_dict() == {"field": "title", "term": "ai", "lang": "en", "found": "AI"}


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(("cfg", "says"), [
    ([], "likeness must be an object"),
    ({"artist": []}, "unknown key(s) ['artist']"),
    ({"artists": {}}, "likeness.artists must be a list"),
    ({"artists": ["The Lanterns"]}, "likeness.artists[0] must be an object"),
    ({"artists": [{"id": "a", "name": "A", "alias": ["x"]}]}, "likeness.artists[0]: unknown key(s) ['alias']"),
    ({"artists": [{"id": "a", "name": ""}]}, "likeness.artists[0]: name must be a non-empty string"),
    ({"artists": [{"id": "a", "name": "  "}]}, "likeness.artists[0]: name must be a non-empty string"),
    ({"artists": [{"id": "a"}]}, "likeness.artists[0]: name must be a non-empty string"),
    ({"artists": [{"id": "a", "name": "!!!"}]}, "has no letters or digits"),
    ({"artists": [{"id": "A B", "name": "A"}]}, "likeness.artists[0]: id must be lower-case"),
    ({"artists": [{"name": "A"}]}, "likeness.artists[0]: id must be lower-case"),
    ({"artists": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]}, "likeness.artists[1]: duplicate id 'a'"),
    ({"artists": [{"id": "a", "name": "A", "aliases": "x"}]}, "aliases must be a list of non-empty strings"),
    ({"artists": [{"id": "a", "name": "A", "aliases": ["x", ""]}]}, "aliases must be a list of non-empty strings"),
    ({"artists": [{"id": "a", "name": "A", "aliases": ["—"]}]}, "alias '—' has no letters or digits"),
    ({"artists": [{"id": "a", "name": "Lanterns"}, {"id": "b", "name": "B", "aliases": ["LANTERNS"]}]},
     "'LANTERNS' would name both 'a' and 'b'"),
    ({"terms": ["ai"]}, "likeness.terms must be an object of term lists by language"),
    ({"terms": {"en": "ai"}}, "likeness.terms.en: must be a list of non-empty strings"),
    ({"terms": {"en": ["ai", ""]}}, "likeness.terms.en: must be a list of non-empty strings"),
    ({"terms": {"en": ["ai", 3]}}, "likeness.terms.en: must be a list of non-empty strings"),
    ({"terms": {"en": ["..."]}}, "likeness.terms.en: '...' has no letters or digits"),
    ({"terms": {"English": ["ai"]}}, "'English' is not a language code"),
])
def test_given_bad_settings_then_the_error_says_what_and_where(cfg, says):
    with pytest.raises(LikenessConfigError) as err:
        LikenessRules.from_config(cfg)
    assert says in str(err.value)


def test_given_several_problems_then_each_is_named():
    with pytest.raises(LikenessConfigError) as err:
        LikenessRules.from_config({"artists": [{"id": "a", "name": ""}, {"id": "a", "name": "A"}], "terms": {"en": "x"},
                                   "extra": 1})
    assert len(err.value.problems) == 3


def _cdk_environments() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_given_each_environment_then_its_likeness_settings_compile_with_terms_in_several_languages(env):
    cfg = _cdk_environments()[env]["likeness"]
    rules = LikenessRules.from_config(cfg)
    assert rules.artists and {"en", "es", "de", "fr", "pt"} <= {lang for lang, _ in rules.terms}
    name = rules.artists[0].name
    assert rules.find({"title": f"{name} - new song (AI cover)"}).artist_id == rules.artists[0].id
    assert rules.find({"title": f"{name} - nueva canción (cover IA)"}) is not None
    assert rules.find({"title": f"{name} - neuer Song (KI-Cover)"}) is not None
    assert rules.find({"title": f"{name} – live"}) is None


def test_given_the_local_demo_catalogue_then_the_dev_environment_knows_its_artists():
    """`./go demo` builds its catalogue with these artists (infra/takedown_local/corpus.py): a
    deepfake of one of them dropped into the dev stack must be found."""
    corpus = (ROOT / "infra" / "takedown_local" / "corpus.py").read_text()
    demo_artists = set(re.findall(r'"artist":\s*"([^"]+)"', corpus))
    assert demo_artists, "corpus.py no longer names its artists as expected: update this test"
    rules = LikenessRules.from_config(_cdk_environments()["dev"]["likeness"])
    for artist in demo_artists:
        assert rules.find({"title": f"{artist} - Track (AI cover)"}) is not None, artist
