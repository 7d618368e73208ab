#!/usr/bin/env python3
"""Synthetic Dutch PZP (advance care planning) plans as FHIR R4 transaction Bundles.

Unlike generate.py (ten resources per patient, one Practitioner each), every patient here has a
whole plan of 15 to 22 resources, and the professionals come from a shared directory:

- a directory of 50 Organizations (URA), 200 Practitioners (UZI) and their 200
  PractitionerRoles (phone): 120 huisartsen (GPs) at 30 practices and 80
  wijkverpleegkundigen (district nurses) at 20 home-care organisations;
- per patient: the Patient (BSN passing the eleven-test, nl-core name parts, birthDate, gender,
  telecom), 1-2 RelatedPersons (contact person "01", legal representative "24"), the Encounter of
  the PZP conversation and its ACP Procedure, 4-8 treatment-directive Consents (4-6 treatments,
  up to two of them superseded: an older `inactive` directive and a newer `active` one), 4-6
  Observations (preferred place of death, specific care wishes, position regarding euthanasia,
  legally capable, and sometimes sense of purpose and organ donation), the medical policy Goal,
  the EpisodeOfCare "markering" (palliative phase) and the CareTeam: the patient's GP as
  hoofdbehandelaar, the district nurse as centrale zorgverlener, and the organisation with URA
  00000000 as wijkverpleging, the organisation of the development token, so that the benchmark
  token keeps its care relationship with every patient.

The shapes follow generate.py and the IKNL examples (Consent, Observation, Goal) and the
server's tests (CareTeam, EpisodeOfCare). Ids are fixed by the patient number (`pzp-000123`,
`pzp-000123-cons-1`), so every entry is a PUT and a Bundle can be sent again. A patient's
plan depends only on its number and the seed, not on how many patients are generated.

Within a patient's entries the CareTeam comes last: until a patient has a care team, the
organisation that registered the patient may write the record without a care-relationship
lookup. The markering names its CareTeam (`team`) but no `careManager`, which the server would
check against the care team's current centrale zorgverlener.

    python3 bench/pzp_dataset.py --patients 100 --seed 1 > pzp-bundles.ndjson

writes one transaction Bundle per line: first the directory, then the patients, 10 a Bundle.
"""

import argparse
import json
import random
import sys

from generate import (  # shared with the older benchmark
    CONSENT_SCOPE, PLACES_OF_DEATH, TREATMENT_DIRECTIVE_CATEGORY, _coding, _date, _ref,
    care_wishes, legally_capable, observations_of, place_of_death, policy_goal,
    treatment_directive)

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
UZI = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"
URA = "http://fhir.nl/fhir/NamingSystem/ura"
SNOMED = "http://snomed.info/sct"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
CONTACT_ROLE = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472"
AGB_SPECIALTY = "urn:oid:2.16.840.1.113883.2.4.6.7"
CARE_TEAM_ROLE = "https://pzp-fhir.nl/fhir/CodeSystem/care-team-role"
PHASE_EXT = "https://pzp-fhir.nl/fhir/StructureDefinition/palliative-phase"
PHASE_SYSTEM = "https://pzp-fhir.nl/fhir/CodeSystem/palliative-phase"
IG = "https://api.iknl.nl/docs/pzp/r4/StructureDefinition/"
PZP = "https://pzp-fhir.nl/fhir/StructureDefinition/"
EXT = "http://hl7.org/fhir/StructureDefinition/"
# The organisation `pzp-fhir token` acts for; the benchmark's token must stay in every care team.
OWN_URA = "00000000"

PATIENTS_PER_BUNDLE = 10
MAX_PATIENTS = 1_000_000  # the BSN numbering below has six digits for the patient number
GP_PRACTICES, HOME_CARE_ORGS = 30, 20
GPS, NURSES = 120, 80

# (voorvoegsel, achternaam): Dutch family names keep their prefix apart (nl-core own-prefix).
SURNAMES = [
    ("van der", "Sluijs"), ("de", "Vries"), ("de", "Jong"), ("", "Jansen"), ("van den", "Berg"),
    ("van", "Dijk"), ("", "Bakker"), ("", "Visser"), ("", "Smit"), ("", "Meijer"),
    ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"),
    ("", "Peters"), ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"),
    ("de", "Wit"), ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("", "Hartman"),
    ("van", "Huissen"), ("", "Wolters"), ("van 't", "Hof"), ("ter", "Horst"), ("in 't", "Veld"),
    ("van", "Bömmel"), ("", "Öztürk"), ("", "Yılmaz"), ("", "Çelik"), ("", "Şahin"),
    ("", "El Idrissi"), ("", "Bouzid"), ("", "Nguyễn"), ("", "Santos"), ("", "Kuijpers"),
    ("", "Hoekstra"), ("van der", "Meer"), ("", "Prins"), ("", "Huisman"), ("", "Koster"),
    ("van", "Wijk"), ("", "Schouten"), ("van der", "Heijden"), ("", "Willems"), ("", "Postma"),
    ("", "Kok"), ("van", "Vliet"), ("", "Timmermans"), ("de", "Haan"), ("", "Verbeek"),
    ("van der", "Linden"), ("", "Gerritsen"), ("", "Maas"), ("de", "Ruiter"), ("", "Zijlstra"),
    ("", "Kramer"), ("van der", "Wal"), ("", "Veenstra"), ("", "Brinkman"), ("d'", "Ancona"),
    ("", "Ĳzerman"), ("van", "Zoelen"), ("", "Wüst"), ("", "Muñoz"), ("", "Kowalczyk"),
    ("", "Þórsdóttir"), ("van", "Aalst"), ("", "Oosterhuis"), ("de la", "Croix"), ("", "Çakır"),
]
GIVEN_FEMALE = [
    "Renée", "Anaïs", "Chloë", "Zoë", "Noëlle", "Inès", "Maëlle", "Fenna", "Anneke", "Samira",
    "Ayşe", "Fatıma", "Özlem", "Wilhelmina", "Johanna", "Geertruida", "Desiree", "Aaltje",
    "Sietske", "Trijntje", "Hélène", "Margriet", "Ilse", "Gülşen", "Agnès", "Wieteke",
]
GIVEN_MALE = [
    "Sjoerd", "Émile", "Ğürsel", "Noël", "René", "André", "Daniël", "Thijs", "Hendrik",
    "Mohammed", "Jürgen", "Łukasz", "Björn", "Michiel", "Gert-Jan", "Cornelis", "Pieter",
    "Hüseyin", "Joël", "Sébastien", "Jan-Willem", "Teun", "Wübbo", "Ömer", "Kees",
]
TOWNS = [
    "Utrecht", "Zwolle", "Groningen", "Leeuwarden", "'s-Hertogenbosch", "Roermond", "Enschede",
    "Delft", "Haarlem", "Almere", "Nijmegen", "Tilburg", "Den Helder", "Middelburg", "Assen",
    "Lelystad", "Maastricht", "Apeldoorn", "Gouda", "Alkmaar", "Hoogeveen", "Emmen", "Venlo",
    "Deventer", "Zaandam", "IJsselstein", "Sneek", "Heerlen", "Breda", "Amersfoort",
]
GP_PRACTICE_NAMES = ["Huisartsenpraktijk De Linde", "Huisartsen De Brink",
                     "Gezondheidscentrum Het Anker", "Huisartsenpraktijk Oosterpoort",
                     "Huisartsen Aan de Gracht", "Medisch Centrum De Esch"]
HOME_CARE_NAMES = ["Thuiszorg", "Buurtzorg", "Wijkverpleging", "Zorggroep", "Thuiszorg West-"]

# The treatments of the IKNL guide that the plan summary names, acute questions first:
# (code, display, chance that the patient refuses it).
TREATMENTS = [
    ("89666000", "cardiopulmonale resuscitatie", 0.7),
    ("305351004", "opname op intensive care", 0.6),
    ("32485007", "opname in ziekenhuis", 0.3),
    ("40617009", "kunstmatige beademing", 0.6),
    ("281789004", "antibiotische therapie", 0.2),
    ("116762002", "toediening van bloedproduct", 0.3),
]
EUTHANASIA = [
    (SNOMED, "340181000146102", "heeft euthanasieverklaring"),
    (SNOMED, "340201000146103", "wil geen euthanasie"),
    (SNOMED, "340191000146100", "heeft geen euthanasieverklaring"),
    (NULL_FLAVOR, "UNK", "nog onbekend"),
]
ORGAN_DONATION = [(SNOMED, "373066001", "ja"), (SNOMED, "373067005", "nee"),
                  (NULL_FLAVOR, "UNK", "onbekend")]
CARE_WISHES = [
    "Wil zo lang mogelijk thuis blijven wonen, met hulp van de thuiszorg.",
    "Vindt het belangrijk om helder te blijven; liever minder pijnstilling dan suf zijn.",
    "Wil de kleinkinderen nog zo vaak mogelijk zien.",
    "Wil geen belastende onderzoeken meer; comfort gaat voor.",
    "Wil graag dat de dochter betrokken wordt bij beslissingen.",
    "Wil 's avonds niet alleen zijn; de buren zijn bereid te waken.",
    "Wil thuis sterven, in de eigen slaapkamer, met muziek van Brahms.",
]
PURPOSES = [
    "Haalt kracht uit het geloof en de kerkgemeenschap.",
    "De tuin en de kleinkinderen geven het leven zin.",
    "Wil afscheid nemen van de oud-collega's van de scheepswerf.",
    "Vindt rust in de natuur; wandelt graag langs de IJssel.",
]
# Relationship to the patient (v3-RoleCode), for the RelatedPersons.
# (code, display, shares the patient's own family name)
KIN = {
    "female": [("DAU", "natural daughter", True), ("WIFE", "wife", False),
               ("SIS", "sister", True), ("NIECE", "niece", False),
               ("FRND", "unrelated friend", False)],
    "male": [("SON", "natural son", True), ("HUSB", "husband", False),
             ("BRO", "brother", True), ("NEPHEW", "nephew", False),
             ("FRND", "unrelated friend", False)],
}
PHASES = [("palliative", "palliatieve fase", 0.7), ("terminal", "terminale fase", 0.2),
          ("dying", "stervensfase", 0.1)]


def _phone(rng, mobile):
    if mobile:
        return f"06-{rng.randint(10000000, 99999999)}"
    return f"0{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}"


def eleven_test(value):
    """Whether a 9-digit number passes the BSN eleven-test:
    9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is divisible by 11."""
    digits = [int(d) for d in value]
    weights = [9, 8, 7, 6, 5, 4, 3, 2, -1]
    return len(digits) == 9 and sum(d * w for d, w in zip(digits, weights)) % 11 == 0


def bsn(number, seed):
    """A synthetic BSN that passes the eleven-test, unique per patient number.

    It starts with 9 (the range of test BSNs), then six digits that encode the patient number
    (an invertible stride modulo 10**6, so distinct numbers give distinct BSNs and they look
    scattered), then a digit chosen so that the check digit is not 10, then the check digit.
    """
    if not 0 <= number < MAX_PATIENTS:
        raise ValueError(f"patient number {number} out of range")
    scattered = (number * 3571 + seed * 7727 + 12345) % MAX_PATIENTS
    digits = [9] + [int(d) for d in f"{scattered:06d}"]
    partial = sum(d * w for d, w in zip(digits, range(9, 2, -1)))
    eighth = random.Random(f"pzp-bsn-{seed}-{number}").choice(
        [d for d in range(10) if (partial + 2 * d) % 11 != 10])
    digits += [eighth, (partial + 2 * eighth) % 11]
    value = "".join(map(str, digits))
    assert eleven_test(value), value
    return value


def _name(rng, gender, partner, surname=None):
    """An nl-core official HumanName. `partner`: None (own name only, NL1), "before" (the
    partner's name first, "Mulder-de Jong", NL3) or "after" (own name first, NL4).
    `surname`: the (prefix, name) to use as own family name instead of a random one."""
    prefix, own = surname or rng.choice(SURNAMES)
    given = rng.choice(GIVEN_FEMALE if gender == "female" else GIVEN_MALE)
    own_family = f"{prefix} {own}".strip()
    parts = [("humanname-own-prefix", prefix), ("humanname-own-name", own)]
    family, order = own_family, "NL1"
    if partner:
        p_prefix, p_own = rng.choice([s for s in SURNAMES if s[1] != own])
        partner_family = f"{p_prefix} {p_own}".strip()
        parts += [("humanname-partner-prefix", p_prefix), ("humanname-partner-name", p_own)]
        if partner == "before":
            family, order = f"{partner_family}-{own_family}", "NL3"
        else:
            family, order = f"{own_family}-{partner_family}", "NL4"
    return {
        "extension": [{"url": EXT + "humanname-assembly-order", "valueCode": order}],
        "use": "official",
        "text": f"{given} {family}",
        "family": family,
        "_family": {"extension": [{"url": EXT + n, "valueString": v} for n, v in parts if v]},
        "given": [given],
    }


# --- the directory: organisations, practitioners, their roles --------------------------------

def gp_role_id(k):
    return f"pzp-role-gp-{k:03d}"


def nurse_role_id(k):
    return f"pzp-role-wv-{k:03d}"


def directory(seed):
    """The Organizations, Practitioners and PractitionerRoles every patient's plan draws from."""
    rng = random.Random(f"pzp-directory-{seed}")
    resources = []
    orgs = []
    for k in range(GP_PRACTICES + HOME_CARE_ORGS):
        town = TOWNS[k % len(TOWNS)]
        if k < GP_PRACTICES:
            name = f"{GP_PRACTICE_NAMES[k % len(GP_PRACTICE_NAMES)]} {town}"
            org_id = f"pzp-org-ha-{k:03d}"
        else:
            base = HOME_CARE_NAMES[k % len(HOME_CARE_NAMES)]
            name = f"{base}{town}" if base.endswith("-") else f"{base} {town}"
            org_id = f"pzp-org-wv-{k:03d}"
        ura = f"{(10000001 + (k * 7919 + seed * 31) % 89999998):08d}"
        assert ura != OWN_URA
        org = {
            "resourceType": "Organization", "id": org_id,
            "identifier": [{"system": URA, "value": ura}],
            "active": True,
            "name": name,
            "telecom": [{"system": "phone", "value": _phone(rng, False), "use": "work"}],
        }
        orgs.append(org)
        resources.append(org)
    for k in range(GPS + NURSES):
        gp = k < GPS
        gender = rng.choice(["female", "male"])
        name = _name(rng, gender, None)
        prac_id = f"pzp-prac-{k:03d}"
        resources.append({
            "resourceType": "Practitioner", "id": prac_id,
            "meta": {"profile": [IG + "ACP-HealthProfessional-Practitioner"]},
            "identifier": [{"system": UZI, "value": f"9{(k * 104729 + seed * 13) % 10**8:08d}"}],
            "name": [name],
            "gender": gender,
        })
        org = orgs[k % GP_PRACTICES] if gp else orgs[GP_PRACTICES + k % HOME_CARE_ORGS]
        role = {
            "resourceType": "PractitionerRole", "id": gp_role_id(k) if gp else nurse_role_id(k - GPS),
            "meta": {"profile": [IG + "ACP-HealthProfessional-PractitionerRole"]},
            "active": True,
            "practitioner": _ref("Practitioner", prac_id, name["text"]),
            "organization": _ref("Organization", org["id"], org["name"]),
            "telecom": [{"system": "phone", "value": _phone(rng, not gp), "use": "work"}],
        }
        if gp:
            role["specialty"] = [_coding("0100", "Huisartsen, niet nader gespecificeerd",
                                         AGB_SPECIALTY)]
        else:
            role["code"] = [{"text": "Wijkverpleegkundige"}]
        resources.append(role)
    return resources


# --- one patient's plan ----------------------------------------------------------------------

def patient_ids(number):
    """The ids of patient `number`'s Patient and Encounter."""
    n = f"{number:06d}"
    return f"pzp-{n}", f"pzp-{n}-enc"


def patient_record(number, seed):
    """The resources of patient `number`'s plan, in the order they are written: the Patient
    first, the CareTeam last."""
    rng = random.Random(f"pzp-{seed}-{number}")
    pat, enc = patient_ids(number)
    gender = rng.choice(["female", "male"])
    partner = rng.choices([None, "before", "after"], [0.6, 0.3, 0.1])[0]
    name = _name(rng, gender, partner)
    gp = rng.randrange(GPS)
    nurse = rng.randrange(NURSES)
    gp_ref = _ref("PractitionerRole", gp_role_id(gp))
    nurse_ref = _ref("PractitionerRole", nurse_role_id(nurse))
    patient_ref = _ref("Patient", pat, name["text"])
    visit = _date(rng, 2024, 2025)
    year = int(visit[:4])

    patient = {
        "resourceType": "Patient", "id": pat,
        "meta": {"profile": [IG + "ACP-Patient"]},
        "identifier": [{"system": BSN, "value": bsn(number, seed)}],
        "name": [name, {"use": "usual", "given": name["given"]}],
        "telecom": [{"system": "phone", "value": _phone(rng, False), "use": "home"}],
        "gender": gender,
        "birthDate": _date(rng, 1925, 1965),
        "generalPractitioner": [gp_ref],
    }
    if rng.random() < 0.5:
        patient["telecom"].append({"system": "phone", "value": _phone(rng, True),
                                   "use": "mobile"})
    resources = [patient]

    # Legally capable? A patient who is not has a legal representative (IKNL ACP-Patient-1).
    capable = rng.random() < 0.85
    people = []
    for k in range(1, (2 if rng.random() < 0.5 else 1) + 1):
        rel_gender = rng.choice(["female", "male"])
        kin = rng.choice(KIN[rel_gender])
        own = [(e["url"].rsplit("-", 1)[1], e["valueString"])
               for e in name["_family"]["extension"] if "-own-" in e["url"]]
        rel_name = _name(rng, rel_gender, None,
                         (dict(own).get("prefix", ""), dict(own)["name"]) if kin[2] else None)
        representative = (k == 1 and not capable) or (k == 2 and rng.random() < 0.5)
        role = ("24", "Wettelijke vertegenwoordiger") if representative else \
            ("01", "Eerste relatie/contactpersoon")
        person = {
            "resourceType": "RelatedPerson", "id": f"{pat}-rp-{k}",
            "meta": {"profile": [IG + "ACP-ContactPerson"]},
            "patient": patient_ref,
            "relationship": [_coding(role[0], role[1], CONTACT_ROLE),
                             _coding(kin[0], kin[1], ROLE_CODE)],
            "name": [rel_name],
            "telecom": [{"system": "phone", "value": _phone(rng, True), "use": "mobile"}],
            "gender": rel_gender,
        }
        people.append(person)
        resources.append(person)

    resources.append({
        "resourceType": "Encounter", "id": enc,
        "meta": {"profile": [IG + "ACP-Encounter"]},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB", "display": "ambulatory"},
        "subject": patient_ref,
        "participant": [{"individual": gp_ref}]
        + [{"individual": _ref("RelatedPerson", p["id"])} for p in people],
        "period": {"start": visit, "end": visit},
    })
    resources.append({
        "resourceType": "Procedure", "id": f"{pat}-proc",
        "meta": {"profile": [IG + "ACP-Procedure"]},
        "status": "completed",
        "code": _coding("713603004", "advance care planning"),
        "subject": patient_ref,
        "encounter": _ref("Encounter", enc),
        "performedPeriod": {"start": visit, "end": visit},
        "performer": [{"actor": gp_ref}],
    })

    # Treatment directives: 4-6 treatments, up to two of them agreed earlier and superseded.
    chosen = sorted(rng.sample(range(len(TREATMENTS)), rng.randint(4, 6)))
    superseded = set(rng.sample(chosen, rng.choice([0, 1, 1, 2])))
    parties = [patient_ref, gp_ref] + [_ref("RelatedPerson", p["id"]) for p in people
                                       if p["relationship"][0]["coding"][0]["code"] == "24"]
    k = 0
    for t in chosen:
        code, display, refuse = TREATMENTS[t]
        versions = []
        if t in superseded:
            versions.append(("inactive", _date(rng, year - 3, year - 1),
                             rng.choice(["permit", "deny"])))
        versions.append(("active", visit, "deny" if rng.random() < refuse else "permit"))
        for status, when, kind in versions:
            k += 1
            resources.append(treatment_directive(f"{pat}-cons-{k}", status, patient_ref, when,
                                                 kind, parties, code, display))

    observations = [
        place_of_death(rng),
        care_wishes(rng.choice(CARE_WISHES)),
        (_coding("340171000146104", "standpunt ten opzichte van euthanasie"),
         "ACP-PositionRegardingEuthanasia",
         {"valueCodeableConcept": (lambda s, c, d: _coding(c, d, s))(*rng.choice(EUTHANASIA))}),
        legally_capable(capable),
    ]
    if rng.random() < 0.5:
        observations.append((_coding("247751003", "zingeving"), "ACP-SenseOfPurpose",
                             {"valueString": rng.choice(PURPOSES)}))
    if rng.random() < 0.5:
        observations.append((
            _coding("570801000146104", "registratie van keuze voor orgaandonatie"),
            "ACP-OrganDonationChoiceRegistration",
            {"method": _coding("1156040003", "self reported"),
             "valueCodeableConcept": (lambda s, c, d: _coding(c, d, s))(
                 *rng.choice(ORGAN_DONATION))}))
    resources += observations_of(f"{pat}-obs", observations, patient_ref, enc, visit, gp_ref)
    resources.append(policy_goal(f"{pat}-goal", patient_ref, visit, rng))

    phase = rng.choices(PHASES, [p[2] for p in PHASES])[0]
    marked = _date(rng, year - 1, year - 1)
    resources.append({
        "resourceType": "EpisodeOfCare", "id": f"{pat}-markering",
        "meta": {"profile": [PZP + "pzp-markering"]},
        "extension": [{"url": PHASE_EXT,
                       "valueCoding": {"system": PHASE_SYSTEM, "code": phase[0],
                                       "display": phase[1]}}],
        "status": "active",
        "type": [{"coding": [{"system": SNOMED, "code": "103735009",
                              "display": "Palliative care"}], "text": "Palliatieve zorg"}],
        "patient": patient_ref,
        "period": {"start": marked},
        "team": [_ref("CareTeam", f"{pat}-team")],
    })

    def role(code, display):
        return [{"coding": [{"system": CARE_TEAM_ROLE, "code": code, "display": display}]}]

    participants = [
        {"role": role("hoofdbehandelaar", "Hoofdbehandelaar"), "member": gp_ref,
         "period": {"start": marked}},
        {"role": role("centrale-zorgverlener", "Centrale zorgverlener"), "member": nurse_ref,
         "period": {"start": marked}},
        {"role": role("wijkverpleging", "Wijkverpleging"),
         "member": {"type": "Organization", "identifier": {"system": URA, "value": OWN_URA}},
         "period": {"start": marked}},
    ]
    if people and rng.random() < 0.5:
        participants.append({"role": role("mantelzorger", "Mantelzorger"),
                             "member": _ref("RelatedPerson", people[0]["id"]),
                             "period": {"start": marked}})
    resources.append({
        "resourceType": "CareTeam", "id": f"{pat}-team",
        "meta": {"profile": [PZP + "pzp-careteam"]},
        "status": "active",
        "name": f"Palliatief team {name['text']}",
        "subject": patient_ref,
        "period": {"start": marked},
        "participant": participants,
    })
    assert 15 <= len(resources) <= 25, len(resources)
    return resources


def transaction(resources):
    """A transaction Bundle that PUTs `resources` at their ids."""
    return {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": r,
                   "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                  for r in resources],
    }


def bundles(patients, seed, per_bundle=PATIENTS_PER_BUNDLE):
    """(kind, patient numbers, Bundle): the directory first, then the patients' plans,
    `per_bundle` patients a Bundle."""
    yield "directory", [], transaction(directory(seed))
    for first in range(0, patients, per_bundle):
        numbers = list(range(first, min(first + per_bundle, patients)))
        resources = [r for n in numbers for r in patient_record(n, seed)]
        yield "patients", numbers, transaction(resources)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-bundle", type=int, default=PATIENTS_PER_BUNDLE,
                        help="patients per transaction Bundle")
    args = parser.parse_args()
    for _, _, bundle in bundles(args.patients, args.seed, args.per_bundle):
        sys.stdout.write(json.dumps(bundle, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
