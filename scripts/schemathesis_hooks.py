"""Schemathesis hooks of the API fuzzing step (scripts/schemathesis.sh).

Generated requests rarely name an object that exists, or one the caller may
touch, so most of them stop at a 403 or a 404. On a share of the cases
(FUZZ_SEEDED_SHARE, default 0.5) these hooks replace the generated path
parameters, query and body with a request the role's seeded world
(internal/fuzzseed) makes valid: the role's own patient, journey, record,
consent, key, HealthLink request... The other cases stay as generated, so
that fuzzing still reaches the validation paths.

Every response's status is counted per operation and written, when the run
ends, to FUZZ_COUNTS (JSON: {"METHOD /path": {"200": n, ...}}), which
scripts/schemathesis_report.py sums over the roles.

  FUZZ_SEED_FILE     the JSON fuzzseed printed
  FUZZ_ROLE          the role this run signs in as
  FUZZ_COUNTS        where to write the status counts
  FUZZ_SEEDED_SHARE  the share of cases given seeded values (0 to 1)
"""

import atexit
import datetime
import itertools
import json
import os
import random
import threading
import uuid

import schemathesis

_ROLE = os.environ["FUZZ_ROLE"]
with open(os.environ["FUZZ_SEED_FILE"], encoding="utf-8") as f:
    _V = json.load(f)["roles"][_ROLE]["values"]
_SHARE = float(os.environ.get("FUZZ_SEEDED_SHARE", "0.5"))
# Seeded from the run's seed, so that a run repeats.
_RANDOM = random.Random(f"{os.environ.get('SCHEMATHESIS_SEED', '7')}:{_ROLE}")
_LOCK = threading.Lock()
_COUNTS: dict[str, dict[str, int]] = {}
_START_SLOTS = itertools.cycle(_V["start_slot_ids"].split(","))
_JWKS = iter(json.loads(_V["spare_jwks"]))
# A 1x1 PNG, the smallest document the records accept.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1b5e10000000049454e44ae426082"
)


def _future_date(days: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _patient(**extra):
    return {"path": {"id": _V["patient_id"]}, **extra}


def _journey(key="journey_id", body=None):
    out = {"path": {"id": _V[key]}}
    if body is not None:
        out["body"] = body
    return out


def _record(key="record_id"):
    return {"path": {"id": _V["patient_id"], "rid": _V[key]}}


_ALLERGY = {"kind": "allergy", "date": "2024-01-15", "display": "Peanut", "status": "active"}

# operationId -> a function returning the seeded parts of a request: "path"
# (replaces every path parameter), "query" (keys set), "body" (replaces
# the body, keeping the generated media type's shape).
SEEDED = {
    "startJourney": lambda: {"body": {"patient_id": _V["patient_id"], "pathway_id": "general-consult",
                                      "episode": _RANDOM.randint(100, 10000), "slot_id": next(_START_SLOTS)}},
    "getJourney": lambda: _journey(),
    "decide": lambda: _journey("review_journey_id", {"step_id": "doctor_review", "outcome": "accepted"}),
    "cancelJourney": lambda: _journey("cancel_journey_id", {"reason": "fuzzing"}),
    "startConsult": lambda: _journey("consult_journey_id", {}),
    "closeConsult": lambda: _journey("open_consult_journey_id", {"diagnoses": ["J06.9"], "notes": "Rest and fluids.",
                                                            "orders": []}),
    "getPrescription": lambda: _journey("rx_journey_id"),
    "reviewPrescription": lambda: _journey("rx_journey_id", {"prescription_id": _V["prescription_id"],
                                                             "action": "approve"}),
    "getDietPlan": lambda: _journey("diet_journey_id"),
    "reviewDietPlan": lambda: _journey("diet_journey_id", {"plan_id": _V["diet_plan_id"], "action": "approve"}),
    "logMeal": lambda: _journey("diet_journey_id", {
        "client_id": f"m-{_RANDOM.randrange(10**9)}", "eaten_at": _now(), "slot": "breakfast",
        "items": [{"code": "A010", "grams": 80}]}),
    "getIntake": lambda: {**_journey("diet_journey_id"), "query": {}},
    "postReading": lambda: _journey("diet_journey_id", {
        "reading_id": f"r-{_RANDOM.randrange(10**9)}", "kind": "glucose", "value": 120, "unit": "mg/dL", "at": _now()}),
    "getAdherence": lambda: {"path": {"id": _V["adherence_id"]}},
    "reportDose": lambda: {"path": {"id": _V["adherence_id"]}, "body": {"action": "taken"}},
    "requestRefill": lambda: {"path": {"id": _V["adherence_id"]}, "body": {}},
    "recordLabResult": lambda: _journey("lab_journey_id", {"loinc_code": "1558-6", "value": 98, "unit": "mg/dL",
                                                         "reference_low": 70, "reference_high": 100}),
    "healthLinkWithdrawEarnings": lambda: {"body": {"doctor_id": _V["doctor_id"], "amount": 1}},
    "codecEncode": lambda: {"body": {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJmdXp6Ijp0cnVlfQ=="}]}},
    "codecDecode": lambda: {"body": json.loads(_V["codec_encoded"])},
    "rescheduleJourney": lambda: _journey(body={"new_slot_id": _V["reschedule_slot_id"]}),
    "listPatientJourneys": lambda: _patient(),
    "signIn": lambda: {"body": {"email": _V["email"], "password": _V["password"]}},
    "oauthToken": lambda: {"body": _RANDOM.choice([
        {"grant_type": "client_credentials", "client_id": _V["client_id"], "client_secret": _V["client_secret"]},
        {"grant_type": "refresh_token", "refresh_token": _V["refresh_token"]},
    ])},
    "requestSMSCode": lambda: {"body": {"phone": _V["patient_phone"]}},
    "checkInteractions": lambda: {"body": {"drugs": ["metformin", "atorvastatin"]}},
    "searchDrugs": lambda: {"query": {"q": "metformin"}},
    "listConditionTreatments": lambda: {"path": {"code": "E11"}, "query": {}},
    "healthLinkBookLabTest": lambda: {"body": {"patient_id": _V["patient_id"], "test_name": "HbA1c",
                                               "appointment_date": _future_date(5)}},
    "healthLinkBookAppointment": lambda: {"body": {
        "doctor_id": _V["doctor_id"], "appointment_date": _V["book_date"], "appointment_time": _V["book_time"],
        "patient_name": _V["patient_name"], "patient_email": _V["patient_email"]}},
    "healthLinkCancelAppointment": lambda: {"body": {"appointment_id": _V["cancel_appointment_id"]}},
    "healthLinkDoctorEarnings": lambda: {"query": {"doctor_id": _V["doctor_id"]}},
    "healthLinkAppointmentRequests": lambda: {"query": {"doctor_id": _V["doctor_id"]}},
    "healthLinkAcceptRequest": lambda: {"body": {"request_id": _V["accept_request_id"]}},
    "healthLinkRejectRequest": lambda: {"body": {"request_id": _V["reject_request_id"]}},
    "healthLinkPurchaseMedicine": lambda: {"body": {"patient_id": _V["patient_id"], "medicine_name": "Metformin",
                                                    "quantity": 1}},
    "healthLinkViewDoctor": lambda: {"query": {"id": _V["doctor_id"]}},
    "patientAccessLog": lambda: _patient(),
    "listRecords": lambda: _patient(),
    "createRecord": lambda: _patient(body=dict(_ALLERGY)),
    "getRecord": lambda: _record(),
    "updateRecord": lambda: {**_record(), "body": dict(_ALLERGY)},
    "deleteRecord": lambda: _record("delete_record_id"),
    "uploadDocument": lambda: _patient(body={"metadata": json.dumps({"title": "Scan", "date": "2024-01-15"}),
                                             "file": _PNG}),
    "getDocumentContent": lambda: _record("document_id"),
    "exportFHIR": lambda: _patient(),
    "registerPublicKey": lambda: {"body": {"jwk": next(_JWKS, {})}},
    "verifyRecordSignature": lambda: _record(),
    "listConsents": lambda: _patient(),
    "grantConsent": lambda: _patient(body={"practitioner_id": _V["doctor_id"], "category": "all"}),
    "revokeConsent": lambda: {"path": {"id": _V["patient_id"], "cid": _V["revoke_consent_id"]}},
    "breakGlass": lambda: _patient(body={"reason": "Patient unconscious in the emergency room; history needed now"}),
    "listNotifications": lambda: _patient(),
    "healthLinkPatientRecords": lambda: {"query": {"patient_id": _V["patient_id"]}},
    "healthLinkClinicalRecords": lambda: {"query": {"patient_id": _V["patient_id"]}},
    "revokePublicKey": lambda: {"path": {"kid": _V["revoke_key_id"]}},
}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    seeded = SEEDED.get(case.operation.definition.raw.get("operationId"))
    if seeded is None:
        return
    with _LOCK:
        if _RANDOM.random() >= _SHARE:
            return
        try:
            parts = seeded()
        except KeyError:
            return  # an object only another role's world has
    if case.headers and "Idempotency-Key" in case.headers:
        # A generated key is sent again with other bodies (a 422): a seeded
        # request gets a key of its own.
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    if "path" in parts:
        case.path_parameters = dict(parts["path"])
    if "query" in parts:
        query = dict(case.query or {})
        query.update(parts["query"])
        case.query = query
    if "body" in parts:
        body = parts["body"]
        if case.media_type and case.media_type != "application/json" and isinstance(body, dict):
            # Form fields are strings.
            body = {k: v if isinstance(v, (str, bytes)) else json.dumps(v) for k, v in body.items()}
        case.body = body


@schemathesis.hook
def after_call(ctx, case, response):
    key = f"{case.method.upper()} {case.operation.path}"
    with _LOCK:
        by_status = _COUNTS.setdefault(key, {})
        status = str(response.status_code)
        by_status[status] = by_status.get(status, 0) + 1


@atexit.register
def _write_counts():
    with open(os.environ["FUZZ_COUNTS"], "w", encoding="utf-8") as f:
        json.dump(_COUNTS, f, indent=1, sort_keys=True)
