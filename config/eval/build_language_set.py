#!/usr/bin/env python3
"""Builds the language-detection evaluation set from the gettext catalogues of this machine.

Source: the translated user messages of the free software that Debian installs (coreutils,
apt, dpkg, git, glib, gtk, bash, ...), as compiled .mo catalogues under /usr/share/locale.
They are short (10-200 characters), written by each project's human translators (not by the
detector's authors), and exist in all eight languages Chorus ships topics for. Their licences
(mostly GPL/LGPL) differ from Chorus's, so the set is built here instead of committed.

Selection is deterministic: messages without format directives or markup, at least three
words, mostly letters, not left untranslated; per language the first N by SHA-1 of the text.

    python3 config/eval/build_language_set.py --out data/eval/language-set.tsv
    cargo run --bin chorus -- eval language --set data/eval/language-set.tsv
"""
import argparse
import glob
import hashlib
import os
import re
import struct

LOCALES = {"de": ["de"], "fr": ["fr"], "es": ["es"], "it": ["it"], "nl": ["nl"], "pl": ["pl"],
           "pt": ["pt", "pt_BR"]}


def read_mo(path):
    """(msgid, msgstr) pairs of a GNU .mo file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    _, count, ids_at, strs_at = struct.unpack(endian + "4I", data[4:20])
    pairs = []
    for i in range(count):
        id_len, id_off = struct.unpack(endian + "2I", data[ids_at + 8 * i: ids_at + 8 * i + 8])
        s_len, s_off = struct.unpack(endian + "2I", data[strs_at + 8 * i: strs_at + 8 * i + 8])
        msgid = data[id_off: id_off + id_len].split(b"\0")[0]
        msgstr = data[s_off: s_off + s_len].split(b"\0")[0]
        try:
            pairs.append((msgid.decode("utf-8"), msgstr.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return pairs


def usable(text):
    if not (10 <= len(text) <= 200) or "\n" in text or "\t" in text:
        return False
    if re.search(r"[%{}<>_\\|=@/$`]|\.\.\.|--", text):
        return False
    if len(text.split()) < 3:
        return False
    letters = sum(c.isalpha() for c in text)
    return letters >= 0.7 * len(text.replace(" ", "")) and not text.isupper()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="data/eval/language-set.tsv")
    parser.add_argument("--per-language", type=int, default=110)
    args = parser.parse_args()
    sets = {lang: set() for lang in list(LOCALES) + ["en"]}
    for lang, dirs in LOCALES.items():
        for d in dirs:
            for path in sorted(glob.glob(f"/usr/share/locale/{d}/LC_MESSAGES/*.mo")):
                for msgid, msgstr in read_mo(path):
                    if msgid and msgstr and msgstr != msgid and usable(msgstr):
                        sets[lang].add(msgstr)
                    if msgid and usable(msgid):
                        sets["en"].add(msgid)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("language\ttext\n")
        for lang in sorted(sets):
            chosen = sorted(sets[lang], key=lambda t: hashlib.sha1(t.encode()).hexdigest())
            if len(chosen) < args.per_language:
                raise SystemExit(f"only {len(chosen)} usable {lang} messages on this machine")
            for text in chosen[: args.per_language]:
                out.write(f"{lang}\t{text}\n")
    print(f"wrote {args.per_language * len(sets)} texts in {len(sets)} languages to {args.out}")


if __name__ == "__main__":
    main()
