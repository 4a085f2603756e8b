#!/usr/bin/env python3
"""Writes the demo survey exports under config/demo/exports/.

Deterministic (fixed seed): re-running it reproduces the committed files. The channel mixes
differ on purpose: Germany and Poland answer mostly the relational survey, France mostly the
after-service-call and digital surveys. Germany scores higher than France in *both* channels, yet pooling
all German and all French answers would rank France first (Simpson's paradox), which is why
Chorus never pools channels.

Run from the repository root:  python3 config/demo/generate.py
"""
import csv
import os
import random
from datetime import datetime, timedelta

random.seed(20261123)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exports")

COMMENTS = {
    "de": {
        "promoter": [
            "Sehr freundliche Beratung am Telefon, mein Problem war sofort gelöst.",
            "Lieferung kam einen Tag früher als angekündigt. Super!",
            "Die Mitarbeiterin im Laden hat sich viel Zeit genommen.",
            "Einfache Rückgabe, Geld war nach drei Tagen wieder da.",
            "Bin seit Jahren Kunde und immer zufrieden.",
            "Schneller Rückruf und kompetente Hilfe, danke!",
        ],
        "passive": [
            "Im Großen und Ganzen in Ordnung, aber die Preise sind gestiegen.",
            "Die App ist okay, manchmal etwas langsam.",
            "Wartezeit an der Hotline war ziemlich lang, danach aber gute Hilfe.",
            "Produkt gut, Verpackung könnte umweltfreundlicher sein.",
        ],
        "detractor": [
            "Die Rechnung war falsch und niemand hat auf meine E-Mail geantwortet.",
            "Paket kam beschädigt an und der Umtausch dauert ewig.",
            "Über eine Stunde in der Warteschleife, das ist eine Zumutung.",
            "Unfreundlicher Mitarbeiter in der Filiale, komme nicht wieder.",
        ],
    },
    "pl": {
        "promoter": [
            "Bardzo miła obsługa, konsultant szybko rozwiązał mój problem.",
            "Dostawa była szybka i wszystko dotarło w idealnym stanie.",
            "Polecam, świetny stosunek jakości do ceny.",
            "Zwrot towaru bez żadnych problemów, pieniądze wróciły szybko.",
        ],
        "passive": [
            "Ogólnie w porządku, ale aplikacja często się zawiesza.",
            "Czas oczekiwania na infolinii był za długi.",
            "Produkt dobry, ale ceny wyższe niż u konkurencji.",
        ],
        "detractor": [
            "Faktura była błędna i nikt nie odpowiada na reklamację.",
            "Kurier zostawił paczkę pod drzwiami, a ona zginęła.",
            "Bardzo niemiły pracownik w sklepie, nie polecam.",
        ],
    },
    "fr": {
        "promoter": [
            "Le conseiller était très aimable et a résolu mon problème rapidement.",
            "Livraison rapide et produit conforme, je recommande.",
            "Service client au top, merci pour votre patience.",
            "Remboursement reçu en deux jours, parfait.",
        ],
        "passive": [
            "Correct dans l'ensemble, mais l'attente au téléphone est longue.",
            "Le site est pratique mais le paiement a échoué une fois.",
            "Bon produit, prix un peu élevé.",
        ],
        "detractor": [
            "Facture erronée et personne ne répond à mes courriels.",
            "Colis arrivé abîmé, et le retour est compliqué.",
            "Vendeuse désagréable en magasin, très déçu.",
        ],
    },
    "es": {
        "promoter": [
            "El agente fue muy amable y resolvió mi problema enseguida.",
            "Entrega rápida y todo en perfecto estado, lo recomiendo.",
            "Muy buena atención en la tienda, volveré seguro.",
            "La devolución fue sencilla y el reembolso llegó pronto.",
        ],
        "passive": [
            "En general bien, pero la aplicación va un poco lenta.",
            "Tuve que esperar bastante al teléfono, luego bien.",
            "Buen producto, aunque el precio ha subido.",
        ],
        "detractor": [
            "La factura estaba mal y nadie contesta a mis correos.",
            "El paquete llegó roto y el cambio tarda muchísimo.",
            "Personal muy antipático en la tienda, no vuelvo.",
        ],
    },
}

# (promoter share, detractor share) per market and channel: Germany beats France in both.
LEVELS = {
    ("DE", "relational"): (0.45, 0.20), ("DE", "service"): (0.70, 0.10),
    ("PL", "relational"): (0.40, 0.25), ("PL", "service"): (0.62, 0.14),
    ("FR", "relational"): (0.38, 0.23), ("FR", "service"): (0.63, 0.13),
    ("ES", "relational"): (0.42, 0.22), ("ES", "service"): (0.66, 0.12),
    ("DE", "digital"): (0.30, 0.30), ("PL", "digital"): (0.28, 0.32),
    ("FR", "digital"): (0.24, 0.36), ("ES", "digital"): (0.27, 0.33),
}
# Responses per market and channel: very different channel mixes.
SIZES = {
    ("DE", "relational"): 600, ("DE", "service"): 150,
    ("PL", "relational"): 200, ("PL", "service"): 40,
    ("FR", "relational"): 120, ("FR", "service"): 500,
    ("ES", "relational"): 350, ("ES", "service"): 300,
    ("DE", "digital"): 90, ("PL", "digital"): 60, ("FR", "digital"): 420, ("ES", "digital"): 200,
}
LANG = {"DE": "de", "PL": "pl", "FR": "fr", "ES": "es"}
TOUCHPOINTS = {"relational": ["annual_survey"], "service": ["hotline", "chat", "store"],
               "digital": ["web", "app"]}
PII = {
    "DE": ["Lieferung kam nie an, bitte rufen Sie mich an: 0171 2345678",
           "Frau Schneider an der Hotline war sehr freundlich, danke!"],
    "PL": ["Paczka nie dotarła, proszę o kontakt: jan.kowalski@example.pl",
           "Zwrot pieniędzy na konto PL61 1090 1014 0000 0712 1981 2874 nadal nie dotarł"],
    "FR": ["Colis jamais reçu, rappelez-moi au 06 12 34 56 78 svp",
           "Remboursement promis sur FR14 2004 1010 0505 0001 3M02 606, toujours rien"],
    "ES": ["El pedido no llegó, escríbanme a maria.garcia@example.es",
           "Me cobraron dos veces en la tarjeta 4111 1111 1111 1111"],
}
CSAT = {"promoter": [4, 5, 5], "passive": [3, 4], "detractor": [1, 2, 3]}
START = datetime(2026, 8, 1)


def answer(market, channel):
    p, d = LEVELS[(market, channel)]
    u = random.random()
    if u < p:
        return random.choice([9, 10]), "promoter"
    if u < p + d:
        return random.choice([0, 2, 3, 4, 5, 6]), "detractor"
    return random.choice([7, 8]), "passive"


def rows(market, channel):
    for i in range(SIZES[(market, channel)]):
        score, kind = answer(market, channel)
        when = START + timedelta(minutes=random.randrange(0, 92 * 24 * 60))
        comment = random.choice(COMMENTS[LANG[market]][kind]) if random.random() < 0.6 else ""
        yield {
            "id": f"{market}-{channel[:3]}-{i:05d}",
            "when": when,
            "score": score,
            "comment": comment,
            "touchpoint": random.choice(TOUCHPOINTS[channel]),
            "market": market,
            "kind": kind,
        }


def write(path, header, records, delimiter=","):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(records)


def by_month(records):
    months = {}
    for r in records:
        months.setdefault(r["when"].strftime("%Y-%m"), []).append(r)
    return sorted(months.items())


def main():
    # Germany: relational survey exported monthly into a drop folder, German Excel style (;).
    for month, recs in by_month(rows("DE", "relational")):
        write(f"{OUT}/de-relational/umfrage-{month}.csv",
              ["Antwort-ID", "Zeitpunkt", "Weiterempfehlung", "Kommentar", "Kontaktpunkt"],
              [[r["id"], r["when"].strftime("%Y-%m-%d %H:%M:%S"), r["score"], r["comment"], r["touchpoint"]]
               for r in recs], delimiter=";")
    write(f"{OUT}/de-service.csv",
          ["Antwort-ID", "Zeitpunkt", "Weiterempfehlung", "Kommentar", "Kontaktpunkt"],
          [[r["id"], r["when"].strftime("%Y-%m-%d %H:%M:%S"), r["score"], r["comment"], r["touchpoint"]]
           for r in rows("DE", "service")], delimiter=";")
    # Poland: one export per channel; the service export has three broken rows on purpose.
    for channel in ["relational", "service"]:
        recs = [[r["id"], r["when"].strftime("%Y-%m-%dT%H:%M:%SZ"), r["score"], r["comment"], "pl"]
                for r in rows("PL", channel)]
        if channel == "service":
            recs.insert(5, ["PL-ser-bad01", "2026-09-01T10:00:00Z", 11, "Ocena spoza skali", "pl"])
            recs.insert(9, ["PL-ser-bad02", "wczoraj", 8, "", "pl"])
            recs.insert(12, ["", "2026-09-02T10:00:00Z", 9, "Brak identyfikatora", "pl"])
        write(f"{OUT}/pl-{channel}.csv", ["id", "created", "nps", "text", "lang"], recs)
    # France and Spain: the relational survey per market, the call centre shared by both
    # markets with a country column.
    for market in ["FR", "ES"]:
        write(f"{OUT}/{market.lower()}-relational.csv",
              ["response_id", "submitted_at", "nps", "comment", "touchpoint"],
              [[r["id"], r["when"].strftime("%Y-%m-%dT%H:%M:%SZ"), r["score"], r["comment"], r["touchpoint"]]
               for r in rows(market, "relational")])
    shared = list(rows("FR", "service")) + list(rows("ES", "service"))
    shared.sort(key=lambda r: r["when"])
    write(f"{OUT}/west-callcentre/calls-2026Q3.csv",
          ["response_id", "submitted_at", "country", "nps", "comment", "touchpoint", "agent_team"],
          [[r["id"], r["when"].strftime("%Y-%m-%dT%H:%M:%SZ"), r["market"], r["score"], r["comment"],
            r["touchpoint"], random.choice(["team-a", "team-b"])] for r in shared])
    # Digital (after an online order): transactional like the service survey, so /compare
    # standardises both over one reference mix; it asks CSAT too. Generated last, so the
    # files above stay as they were.
    digital = [r for market in ["DE", "PL", "FR", "ES"] for r in rows(market, "digital")]
    digital.sort(key=lambda r: r["when"])
    # Some comments carry personal data, which Chorus redacts before storage.
    seen = {}
    for r in digital:
        n = seen[r["market"]] = seen.get(r["market"], 0) + 1
        if n % 15 == 7:
            r["comment"] = PII[r["market"]][(n // 15) % 2]
    write(f"{OUT}/digital-orders.csv",
          ["order_ref", "answered_at", "market", "nps", "csat", "comment", "device"],
          [[r["id"], r["when"].strftime("%Y-%m-%dT%H:%M:%SZ"), r["market"], r["score"],
            random.choice(CSAT[r["kind"]]), r["comment"], r["touchpoint"]] for r in digital])


if __name__ == "__main__":
    main()
