#!/usr/bin/env python3
"""Writes the embedded demo corpus: original news-style sentences composed by the
team from the templates and name lists below, in CoNLL format (token TAG, IOB2).
Deterministic: rerunning rewrites the same files. No sentence comes from a dataset.

English: labeled train (320) and dev (60). Spanish, German, Dutch: train (160,
used unlabeled by the pipeline) and a labeled test set (60) each.
"""
import random
from pathlib import Path

HERE = Path(__file__).parent

PER = ["Maria Lindqvist", "John Okafor", "Elena Varga", "Pierre Dumas", "Ahmed Karimi", "Sofia Brandt",
       "Lucas Moreau", "Anna Kowalczyk", "Tomas Herrera", "Yuki Tanaka", "Carlos Mendes", "Ingrid Haugen",
       "Hans Vermeulen", "Laura Bianchi", "Peter Novak", "Fatima Benali", "David Lang", "Clara Jensen",
       "Miguel Ortega", "Kenji Watanabe", "Nadia Petrova", "Oliver Grant", "Rosa Alvarez", "Stefan Richter",
       "Marta Costa", "Jan de Boer", "Ali Hassan", "Grace Mwangi", "Victor Ionescu", "Hannah Weiss"]

LANG = {
    "en": {
        "LOC": ["Berlin", "Madrid", "Amsterdam", "Paris", "Lisbon", "Warsaw", "Cairo", "Nairobi", "Tokyo",
                "Buenos Aires", "New York", "Rotterdam", "Hamburg", "Seville", "Brussels", "Vienna",
                "South Africa", "Germany", "Spain", "the Netherlands", "Brazil", "Canada", "Norway", "Japan"],
        "ORG": ["United Nations", "European Commission", "Siemens", "Real Madrid", "Ajax", "Bayern Munich",
                "World Health Organization", "Reuters", "Deutsche Bank", "Philips", "Telefonica", "Shell",
                "Greenpeace", "FIFA", "Red Cross", "Volkswagen", "Iberia", "the Labour Party", "NATO", "Unilever"],
        "MISC": ["German", "Spanish", "Dutch", "European", "World Cup", "Olympic Games", "Nobel Prize",
                 "Tour de France", "Champions League", "Euro", "Brazilian", "Japanese", "Christmas", "Internet Week"],
        "templates": [
            "{PER} said on Tuesday that {ORG} would open a new office in {LOC} .",
            "Police in {LOC} arrested two men after a robbery near the {ORG} headquarters .",
            "{ORG} shares fell 3 percent in {LOC} after the company cut its forecast .",
            "The {MISC} government welcomed the decision , a spokesman told {ORG} .",
            "{PER} , the coach of {ORG} , was sacked after a defeat in {LOC} .",
            "Talks between {ORG} and {ORG} ended without agreement in {LOC} on Friday .",
            "{PER} won the {MISC} title after beating {PER} in three sets .",
            "Floods in {LOC} forced thousands of people to leave their homes , officials said .",
            "The minister {PER} will visit {LOC} next week to discuss trade .",
            "{ORG} said it had hired {PER} as its new chief executive .",
            "Prices in {LOC} rose 2.1 percent in March , the statistics office said .",
            "{PER} scored twice as {ORG} beat {ORG} 3-1 on Sunday .",
            "Thousands marched through {LOC} to protest against the new tax law .",
            "The {MISC} team arrived in {LOC} ahead of the {MISC} .",
            "{PER} , 54 , has led {ORG} since 2019 .",
            "An earthquake of magnitude 5.8 struck near {LOC} early on Monday .",
            "{ORG} and {ORG} agreed to merge their {MISC} operations .",
            "Doctors in {LOC} said {PER} was in a stable condition .",
            "Voters in {LOC} go to the polls on Sunday to elect a new mayor .",
            "{PER} told reporters in {LOC} that the plan was fair .",
            "The {MISC} economy grew faster than expected in the third quarter .",
            "{ORG} will build a factory outside {LOC} , creating 800 jobs .",
            "Exports from {LOC} to {LOC} doubled last year .",
            "{PER} resigned from {ORG} after six years on the board .",
            "Fans of {ORG} celebrated in the streets of {LOC} until dawn .",
            "The report by {ORG} criticised the handling of the crisis .",
            "{PER} and {PER} signed the agreement in {LOC} on Thursday .",
            "Heavy snow closed the airport in {LOC} for several hours .",
        ],
    },
    "es": {
        "LOC": ["Berlín", "Madrid", "Ámsterdam", "París", "Lisboa", "Varsovia", "El Cairo", "Nairobi", "Tokio",
                "Buenos Aires", "Nueva York", "Sevilla", "Valencia", "Bilbao", "Bruselas", "Viena",
                "Sudáfrica", "Alemania", "España", "Brasil", "Canadá", "Noruega", "Japón", "México"],
        "ORG": ["Naciones Unidas", "Comisión Europea", "Siemens", "Real Madrid", "Ajax", "Bayern de Múnich",
                "Organización Mundial de la Salud", "EFE", "Deutsche Bank", "Philips", "Telefónica", "Repsol",
                "Greenpeace", "FIFA", "Cruz Roja", "Volkswagen", "Iberia", "Partido Popular", "OTAN", "Banco de España"],
        "MISC": ["alemán", "española", "holandés", "europeo", "Mundial", "Juegos Olímpicos", "Premio Nobel",
                 "Vuelta a España", "Liga de Campeones", "Copa del Rey", "brasileño", "japonés"],
        "templates": [
            "{PER} dijo el martes que {ORG} abrirá una nueva oficina en {LOC} .",
            "La policía de {LOC} detuvo a dos hombres tras un robo cerca de la sede de {ORG} .",
            "Las acciones de {ORG} cayeron un 3 por ciento en {LOC} .",
            "{PER} , entrenador del {ORG} , fue destituido tras la derrota en {LOC} .",
            "Las negociaciones entre {ORG} y {ORG} terminaron sin acuerdo en {LOC} .",
            "{PER} ganó el título del {MISC} tras vencer a {PER} .",
            "Las inundaciones en {LOC} obligaron a miles de personas a abandonar sus casas .",
            "El ministro {PER} visitará {LOC} la próxima semana para hablar de comercio .",
            "{ORG} anunció que ha contratado a {PER} como nuevo consejero delegado .",
            "Los precios en {LOC} subieron un 2,1 por ciento en marzo .",
            "{PER} marcó dos goles y el {ORG} ganó al {ORG} por 3-1 .",
            "Miles de personas se manifestaron en {LOC} contra la nueva ley .",
            "{PER} , de 54 años , dirige {ORG} desde 2019 .",
            "Un terremoto de magnitud 5,8 sacudió {LOC} el lunes por la mañana .",
            "Los médicos de {LOC} dijeron que {PER} se encuentra estable .",
            "{PER} declaró a los periodistas en {LOC} que el plan era justo .",
            "{ORG} construirá una fábrica cerca de {LOC} y creará 800 empleos .",
            "Las exportaciones de {LOC} a {LOC} se duplicaron el año pasado .",
            "{PER} dimitió de {ORG} después de seis años en el consejo .",
            "El informe de {ORG} criticó la gestión de la crisis .",
            "{PER} y {PER} firmaron el acuerdo en {LOC} el jueves .",
            "El equipo {MISC} llegó a {LOC} antes del {MISC} .",
        ],
    },
    "de": {
        "LOC": ["Berlin", "Madrid", "Amsterdam", "Paris", "Lissabon", "Warschau", "Kairo", "Nairobi", "Tokio",
                "Buenos Aires", "New York", "München", "Hamburg", "Köln", "Brüssel", "Wien",
                "Südafrika", "Deutschland", "Spanien", "Brasilien", "Kanada", "Norwegen", "Japan", "Österreich"],
        "ORG": ["Vereinten Nationen", "EU-Kommission", "Siemens", "Real Madrid", "Ajax", "Bayern München",
                "Weltgesundheitsorganisation", "dpa", "Deutsche Bank", "Philips", "Telekom", "Lufthansa",
                "Greenpeace", "FIFA", "Rote Kreuz", "Volkswagen", "SPD", "Bundesbank", "NATO", "BASF"],
        "MISC": ["deutsche", "spanische", "niederländische", "europäische", "Weltmeisterschaft", "Olympischen Spiele",
                 "Nobelpreis", "Tour de France", "Champions League", "Bundesliga", "brasilianische", "japanische"],
        "templates": [
            "{PER} sagte am Dienstag , {ORG} werde ein neues Büro in {LOC} eröffnen .",
            "Die Polizei in {LOC} nahm nach einem Überfall zwei Männer fest .",
            "Die Aktien von {ORG} fielen in {LOC} um drei Prozent .",
            "{PER} , Trainer von {ORG} , wurde nach der Niederlage in {LOC} entlassen .",
            "Die Gespräche zwischen {ORG} und {ORG} endeten in {LOC} ohne Einigung .",
            "{PER} gewann den Titel nach einem Sieg über {PER} .",
            "Überschwemmungen in {LOC} zwangen Tausende Menschen , ihre Häuser zu verlassen .",
            "Minister {PER} wird nächste Woche nach {LOC} reisen .",
            "{ORG} teilte mit , {PER} werde neuer Vorstandschef .",
            "Die Preise in {LOC} stiegen im März um 2,1 Prozent .",
            "{PER} traf zweimal , und {ORG} schlug {ORG} mit 3:1 .",
            "Tausende demonstrierten in {LOC} gegen das neue Steuergesetz .",
            "Die {MISC} Regierung begrüßte die Entscheidung .",
            "{PER} , 54 , leitet {ORG} seit 2019 .",
            "Ein Erdbeben der Stärke 5,8 erschütterte am Montag {LOC} .",
            "Ärzte in {LOC} sagten , {PER} sei in stabilem Zustand .",
            "{PER} sagte Journalisten in {LOC} , der Plan sei fair .",
            "{ORG} will bei {LOC} eine Fabrik mit 800 Arbeitsplätzen bauen .",
            "Die Exporte von {LOC} nach {LOC} haben sich verdoppelt .",
            "{PER} trat nach sechs Jahren aus dem Vorstand von {ORG} zurück .",
            "Der Bericht von {ORG} kritisierte den Umgang mit der Krise .",
            "{PER} und {PER} unterzeichneten das Abkommen am Donnerstag in {LOC} .",
            "Die {MISC} Mannschaft traf vor der {MISC} in {LOC} ein .",
        ],
    },
    "nl": {
        "LOC": ["Berlijn", "Madrid", "Amsterdam", "Parijs", "Lissabon", "Warschau", "Caïro", "Nairobi", "Tokio",
                "Buenos Aires", "New York", "Rotterdam", "Utrecht", "Antwerpen", "Brussel", "Wenen",
                "Zuid-Afrika", "Duitsland", "Spanje", "Brazilië", "Canada", "Noorwegen", "Japan", "België"],
        "ORG": ["Verenigde Naties", "Europese Commissie", "Siemens", "Real Madrid", "Ajax", "Bayern München",
                "Wereldgezondheidsorganisatie", "ANP", "ING", "Philips", "KPN", "Shell",
                "Greenpeace", "FIFA", "Rode Kruis", "Volkswagen", "PvdA", "KLM", "NAVO", "Feyenoord"],
        "MISC": ["Duitse", "Spaanse", "Nederlandse", "Europese", "WK", "Olympische Spelen", "Nobelprijs",
                 "Tour de France", "Champions League", "Eredivisie", "Braziliaanse", "Japanse"],
        "templates": [
            "{PER} zei dinsdag dat {ORG} een nieuw kantoor in {LOC} opent .",
            "De politie in {LOC} heeft na een overval twee mannen aangehouden .",
            "Het aandeel {ORG} daalde in {LOC} met 3 procent .",
            "{PER} , trainer van {ORG} , werd na de nederlaag in {LOC} ontslagen .",
            "De gesprekken tussen {ORG} en {ORG} in {LOC} liepen op niets uit .",
            "{PER} won de titel na een zege op {PER} .",
            "Door overstromingen in {LOC} moesten duizenden mensen hun huis verlaten .",
            "Minister {PER} bezoekt volgende week {LOC} .",
            "{ORG} heeft {PER} benoemd tot nieuwe topman .",
            "De prijzen in {LOC} stegen in maart met 2,1 procent .",
            "{PER} scoorde twee keer en {ORG} won met 3-1 van {ORG} .",
            "Duizenden mensen demonstreerden in {LOC} tegen de nieuwe belasting .",
            "De {MISC} regering was blij met het besluit .",
            "{PER} ( 54 ) leidt {ORG} sinds 2019 .",
            "Een aardbeving met een kracht van 5,8 trof maandag {LOC} .",
            "Artsen in {LOC} zeiden dat {PER} stabiel is .",
            "{PER} zei tegen journalisten in {LOC} dat het plan eerlijk is .",
            "{ORG} bouwt bij {LOC} een fabriek met 800 banen .",
            "De export van {LOC} naar {LOC} is vorig jaar verdubbeld .",
            "{PER} stapte na zes jaar op bij {ORG} .",
            "Het rapport van {ORG} bekritiseerde de aanpak van de crisis .",
            "{PER} en {PER} tekenden donderdag in {LOC} het akkoord .",
            "De {MISC} ploeg kwam voor de {MISC} aan in {LOC} .",
        ],
    },
}


def compose(rng, lang):
    spec = LANG[lang]
    template = rng.choice(spec["templates"])
    out = []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            name = rng.choice(PER if kind == "PER" else spec[kind])
            started = False
            for tok in name.split():
                # "the" in "the Netherlands" / "the Labour Party" stays outside the entity.
                if not started and tok == "the":
                    out.append((tok, "O"))
                    continue
                out.append((tok, f"I-{kind}" if started else f"B-{kind}"))
                started = True
        else:
            out.append((word, "O"))
    return out


def write(path, sentences):
    with open(path, "w", encoding="utf-8") as f:
        for sent in sentences:
            for tok, tag in sent:
                f.write(f"{tok} {tag}\n")
            f.write("\n")


def main():
    plan = {"en": {"train": 320, "dev": 60}, "es": {"train": 160, "test": 60},
            "de": {"train": 160, "test": 60}, "nl": {"train": 160, "test": 60}}
    for lang, splits in plan.items():
        rng = random.Random(f"mtmt-demo-{lang}")
        seen = set()
        (HERE / lang).mkdir(exist_ok=True)
        for split, n in splits.items():
            sentences = []
            while len(sentences) < n:
                sent = compose(rng, lang)
                key = " ".join(t for t, _ in sent)
                if key not in seen:
                    seen.add(key)
                    sentences.append(sent)
            write(HERE / lang / f"{split}.txt", sentences)


if __name__ == "__main__":
    main()
