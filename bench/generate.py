#!/usr/bin/env python3
"""Synthetic Dutch PZP (advance care planning) records as FHIR R4 JSON, for benchmarks.

Each patient gets the same ten resources, shaped like the IKNL PZP-FHIR-R4 examples: a Patient
(BSN, nl-core name parts with prefixes and diacritics), the Practitioner who held the PZP
conversation (UZI), the Encounter of that conversation, three treatment directives (Consent:
resuscitation, ICU admission, hospital admission), three Observations (preferred place of death,
specific care wishes, legally capable) and the medical policy Goal.

Ids are fixed by the patient number (`pat-000123`, `cons-000123-1`...), so the resources can be
PUT and a benchmark can name a patient by number. A patient's record depends only on its number
and the seed, not on how many patients are generated: patient 50 is the same in a set of 100 and
in a set of 10,000.

    python3 bench/generate.py --patients 100 --seed 1 > pzp.ndjson
"""

import argparse
import json
import random
import sys

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
UZI = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"
SNOMED = "http://snomed.info/sct"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
TREATMENT_DIRECTIVE_CATEGORY = "129125009"
IG = "https://api.iknl.nl/docs/pzp/r4/StructureDefinition/"
EXT = "http://hl7.org/fhir/StructureDefinition/"

RESOURCES_PER_PATIENT = 10
MAX_PATIENTS = 1_000_000  # the BSN numbering below has six digits for the patient number

# (voorvoegsel, achternaam): Dutch family names keep their prefix apart (nl-core own-prefix).
SURNAMES = [
    ("van der", "Sluijs"), ("de", "Jong"), ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"),
    ("van", "Dijk"), ("", "Bakker"), ("", "Visser"), ("", "Smit"), ("", "Meijer"),
    ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"),
    ("", "Peters"), ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"),
    ("de", "Wit"), ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("", "Hartman"),
    ("van", "Huissen"), ("", "Wolters"), ("van 't", "Hof"), ("ter", "Horst"), ("in 't", "Veld"),
    ("van", "Bömmel"), ("", "Öztürk"), ("", "Yılmaz"), ("", "Ğürsel"), ("", "Çelik"),
    ("", "Şahin"), ("", "El Idrissi"), ("", "Bouzid"), ("", "Nguyễn"), ("", "Santos"),
    ("", "Kuijpers"), ("", "Hoekstra"), ("van der", "Meer"), ("", "Prins"), ("", "Huisman"),
    ("", "Koster"), ("van", "Wijk"), ("", "Schouten"), ("van der", "Heijden"), ("", "Willems"),
    ("", "Scholten"), ("", "Postma"), ("", "Kok"), ("van", "Vliet"), ("", "Timmermans"),
    ("de", "Haan"), ("", "Verbeek"), ("", "Groen"), ("van der", "Linden"), ("", "Gerritsen"),
    ("", "Maas"), ("", "Sanders"), ("", "Jacobs"), ("van", "Beek"), ("", "Evers"),
    ("de", "Ruiter"), ("", "Zijlstra"), ("", "Kramer"), ("van der", "Wal"), ("", "Veenstra"),
]
GIVEN = [
    "Émile", "Ğürsel", "Chloë", "Zoë", "Noël", "Inès", "René", "Renée", "André", "Daniël",
    "Thijs", "Sjoerd", "Fenna", "Anneke", "Hendrik", "Samira", "Mohammed", "Ayşe", "Fatıma",
    "Özlem", "Jürgen", "Łukasz", "Björn", "Maëlle", "Michiel", "Gert-Jan", "Wilhelmina",
    "Johanna", "Cornelis", "Geertruida", "Desiree", "Pieter", "Aaltje", "Sietske", "Hüseyin",
]
PLACES_OF_DEATH = [
    ("264362003", "thuis"), ("22232009", "ziekenhuis"),
    ("108344006", "verpleeghuis en/of locatie voor ambulante zorg"), ("284546000", "hospice"),
]
POLICY_GOALS = [
    ("385987000", "zorg bij ziekte en/of letsel"), ("1351964001", "levensverlengende behandeling"),
    ("713148004", "voorkomen en behandelen van symptomen"),
]
# (code, display, chance that the patient refuses it)
TREATMENTS = [
    ("89666000", "cardiopulmonale resuscitatie", 0.7),
    ("305351004", "opname op intensive care", 0.6),
    ("32485007", "opname in ziekenhuis", 0.3),
]
CARE_WISHES = [
    "Wil zo lang mogelijk thuis blijven wonen, met hulp van de thuiszorg.",
    "Vindt het belangrijk om helder te blijven; liever minder pijnstilling dan suf zijn.",
    "Wil de kleinkinderen nog zo vaak mogelijk zien.",
    "Wil geen belastende onderzoeken meer; comfort gaat voor.",
    "Wil graag dat de dochter betrokken wordt bij beslissingen.",
]


def _coding(code, display, system=SNOMED):
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _date(rng, first_year, last_year):
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _ref(res_type, res_id, display=None):
    ref = {"reference": f"{res_type}/{res_id}"}
    if display:
        ref["display"] = display
    return ref


def bsn(number, seed):
    """A synthetic BSN that passes the eleven-test, unique per patient number.

    It starts with 9, like the test BSNs of the IKNL examples, then six digits that encode the
    patient number (an invertible stride, so numbers look scattered), then a digit chosen so
    that the check digit is not 10, then the check digit.
    """
    if not 0 <= number < MAX_PATIENTS:
        raise ValueError(f"patient number {number} out of range")
    scattered = (number * 7919 + seed * 104729) % MAX_PATIENTS
    digits = [9] + [int(d) for d in f"{scattered:06d}"]
    partial = sum(d * w for d, w in zip(digits, range(9, 2, -1)))
    eighth = random.Random(f"bsn-{seed}-{number}").choice(
        [d for d in range(10) if (partial + 2 * d) % 11 != 10])
    digits += [eighth, (partial + 2 * eighth) % 11]
    value = "".join(map(str, digits))
    assert eleven_test(value), value
    return value


def eleven_test(value):
    """Whether a 9-digit number passes the BSN eleven-test."""
    digits = [int(d) for d in value]
    weights = [9, 8, 7, 6, 5, 4, 3, 2, -1]
    return len(digits) == 9 and sum(d * w for d, w in zip(digits, weights)) % 11 == 0


def _name(rng, use_partner):
    """An nl-core official HumanName: own name, optionally with the partner's name first."""
    prefix, own = rng.choice(SURNAMES)
    given = rng.choice(GIVEN)
    parts = [("humanname-own-prefix", prefix), ("humanname-own-name", own)]
    family = f"{prefix} {own}".strip()
    order = "NL1"
    if use_partner:
        p_prefix, p_own = rng.choice([s for s in SURNAMES if s[1] != own])
        parts += [("humanname-partner-prefix", p_prefix), ("humanname-partner-name", p_own)]
        family = f"{p_prefix} {p_own}".strip() + "-" + family
        order = "NL3"
    return {
        "extension": [{"url": EXT + "humanname-assembly-order", "valueCode": order}],
        "use": "official",
        "text": f"{given} {family}",
        "family": family,
        "_family": {"extension": [{"url": EXT + n, "valueString": v} for n, v in parts if v]},
        "given": [given],
    }


def treatment_directive(res_id, status, patient_ref, when, kind, parties, code, display):
    """An ACP-TreatmentDirective Consent: `kind` (permit/deny) of treatment `code`, agreed by
    `parties`."""
    return {
        "resourceType": "Consent", "id": res_id,
        "meta": {"profile": [IG + "ACP-TreatmentDirective"]},
        "status": status,
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [{"system": SNOMED, "code": TREATMENT_DIRECTIVE_CATEGORY}]}],
        "patient": patient_ref,
        "dateTime": when,
        "policy": [{"uri": "https://wetten.overheid.nl/"}],
        "provision": {
            "type": kind,
            "actor": [
                {"role": {"coding": [{"system": ROLE_CODE, "code": "CONSENTER"}]},
                 "reference": party} for party in parties],
            "code": [_coding(code, display)],
        },
    }


def place_of_death(rng):
    """(code, profile, value) of an ACP-PreferredPlaceOfDeath Observation."""
    return (_coding("395091006", "gewenste plek van overlijden"), "ACP-PreferredPlaceOfDeath",
            {"valueCodeableConcept": _coding(*rng.choice(PLACES_OF_DEATH))})


def care_wishes(wish):
    """(code, profile, value) of an ACP-SpecificCareWishes Observation."""
    return (_coding("153851000146100",
                    "wensen en verwachtingen met betrekking tot uitkomst van behandeling"),
            "ACP-SpecificCareWishes", {"valueString": wish,
                                       "method": _coding("370819000", "vaststellen van persoonlijke "
                                                         "waarden en wensen met betrekking tot zorg")})


def legally_capable(capable):
    """(code, profile, value) of an ACP-LegallyCapable Observation."""
    return (_coding("665671000146101",
                    "juridisch in staat om beslissingen te nemen over medische behandelingen"),
            "ACP-LegallyCapable", {"valueBoolean": capable})


def observations_of(prefix, observations, patient_ref, enc, visit, performer):
    """The Observations `prefix`-1, -2, ... of one conversation, from (code, profile, value)."""
    return [{
        "resourceType": "Observation", "id": f"{prefix}-{k}",
        "meta": {"profile": [IG + profile]},
        "status": "final",
        "code": code,
        "subject": patient_ref,
        "encounter": _ref("Encounter", enc),
        "effectiveDateTime": visit,
        "performer": [performer],
        **value,
    } for k, (code, profile, value) in enumerate(observations, start=1)]


def policy_goal(res_id, patient_ref, visit, rng):
    """An ACP-MedicalPolicyGoal Goal."""
    return {
        "resourceType": "Goal", "id": res_id,
        "meta": {"profile": [IG + "ACP-MedicalPolicyGoal"]},
        "lifecycleStatus": "active",
        "category": [_coding("713603004", "advance care planning")],
        "description": _coding(*rng.choice(POLICY_GOALS)),
        "subject": patient_ref,
        "statusDate": visit,
    }


def patient_record(number, seed):
    """The ten resources of patient `number`, the Patient first."""
    rng = random.Random(f"{seed}-{number}")
    n = f"{number:06d}"
    pat, prac, enc = f"pat-{n}", f"prac-{n}", f"enc-{n}"
    name = _name(rng, use_partner=rng.random() < 0.4)
    prac_name = _name(rng, use_partner=False)
    visit = _date(rng, 2025, 2025)
    patient_ref = _ref("Patient", pat, name["text"])
    prac_ref = _ref("Practitioner", prac, prac_name["text"])

    resources = [
        {
            "resourceType": "Patient", "id": pat,
            "meta": {"profile": [IG + "ACP-Patient"]},
            "identifier": [{"system": BSN, "value": bsn(number, seed)}],
            "name": [name, {"use": "usual", "given": name["given"]}],
            "gender": rng.choice(["female", "male"]),
            "birthDate": _date(rng, 1925, 1965),
            "generalPractitioner": [prac_ref],
        },
        {
            "resourceType": "Practitioner", "id": prac,
            "meta": {"profile": [IG + "ACP-HealthProfessional-Practitioner"]},
            "identifier": [{"system": UZI, "value": f"9{(number * 7919 + seed) % 10**8:08d}"}],
            "name": [prac_name],
        },
        {
            "resourceType": "Encounter", "id": enc,
            "meta": {"profile": [IG + "ACP-Encounter"]},
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB", "display": "ambulatory"},
            "subject": patient_ref,
            "participant": [{"individual": prac_ref}],
            "period": {"start": visit, "end": visit},
        },
    ]
    for k, (code, display, refuse) in enumerate(TREATMENTS, start=1):
        kind = "deny" if rng.random() < refuse else "permit"
        resources.append(treatment_directive(f"cons-{n}-{k}", "active", patient_ref, visit, kind,
                                             [patient_ref], code, display))
    observations = [
        place_of_death(rng),
        care_wishes(rng.choice(CARE_WISHES)),
        legally_capable(rng.random() < 0.9),
    ]
    resources += observations_of(f"obs-{n}", observations, patient_ref, enc, visit, prac_ref)
    resources.append(policy_goal(f"goal-{n}", patient_ref, visit, rng))
    assert len(resources) == RESOURCES_PER_PATIENT
    return resources


def generate(patients, seed):
    """Every resource of patients 0 .. patients-1, record by record."""
    for number in range(patients):
        yield from patient_record(number, seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for resource in generate(args.patients, args.seed):
        sys.stdout.write(json.dumps(resource, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
