"""Verification kinds as data (M2.1 basic, M2.2 advanced, M2.3 supplementary).

Each kind says which fields a member fills in (and which of them are personal data,
encrypted at rest and masked in every response, D4), which files it takes (types,
count, size), what it adds to the credit score once approved, and whether it is needed
to borrow or to lend. Kinds checked against an external source (credit bureau, court,
reputation, industry sharing, M2.7) name that source: the member submits the
authorisation, an adapter fetches the result when the item is reviewed.

ID card and household register (M2.1) and the member's own ID among the supplementary
materials (M2.3) are one kind, ID_CARD. The household register of M2.3 (the family's)
is HOUSEHOLD_REGISTER.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MB = 1024 * 1024


class Tier(StrEnum):
    BASIC = "BASIC"
    ADVANCED = "ADVANCED"
    SUPPLEMENTARY = "SUPPLEMENTARY"


class FieldFormat(StrEnum):
    """How a value is checked and masked."""

    TEXT = "TEXT"
    NAME = "NAME"
    ID_NUMBER = "ID_NUMBER"  # 18-character resident ID with its check character
    PHONE = "PHONE"  # mainland mobile number
    EMAIL = "EMAIL"
    NUMBER = "NUMBER"  # an account, licence or certificate number
    DATE = "DATE"  # YYYY-MM-DD
    CONSENT = "CONSENT"  # must be "yes": the member authorises a check
    MONEY = "MONEY"  # an amount in yuan, "12000.00"; stored in that canonical form


@dataclass(frozen=True)
class FieldSpec:
    name: str  # camelCase, as clients send it
    label: str
    required: bool = True
    personal: bool = False  # encrypted at rest, masked in responses
    format: FieldFormat = FieldFormat.TEXT
    max_length: int = 200


@dataclass(frozen=True)
class VerificationKind:
    code: str
    tier: Tier
    title: str
    requirement: str  # the requirement item it covers
    fields: tuple[FieldSpec, ...]
    file_types: tuple[str, ...]  # MIME types
    min_files: int
    max_files: int
    max_file_bytes: int
    score: int  # points added to the credit score once approved (M2.4)
    required_for_borrowing: bool = False
    required_for_lending: bool = False
    external_source: str | None = None  # the M2.7 adapter that checks it

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)


IMAGES = ("image/jpeg", "image/png")
DOCUMENTS = (*IMAGES, "application/pdf")
VIDEOS = ("video/mp4", "video/quicktime", "video/webm")

_NAME = FieldSpec("realName", "Name as on the ID card", personal=True, format=FieldFormat.NAME)
_ID = FieldSpec("idNumber", "Resident ID number", personal=True, format=FieldFormat.ID_NUMBER)
_CONSENT = FieldSpec(
    "consent", "I authorise the platform to run this check (yes)", format=FieldFormat.CONSENT
)
_NOTE = FieldSpec("note", "Anything the reviewer should know", required=False, max_length=500)


def _kind(
    code: str,
    tier: Tier,
    title: str,
    requirement: str,
    fields: tuple[FieldSpec, ...],
    *,
    file_types: tuple[str, ...] = DOCUMENTS,
    min_files: int = 1,
    max_files: int = 5,
    max_file_bytes: int = 5 * MB,
    score: int,
    borrowing: bool = False,
    lending: bool = False,
    external_source: str | None = None,
) -> VerificationKind:
    return VerificationKind(
        code=code,
        tier=tier,
        title=title,
        requirement=requirement,
        fields=fields,
        file_types=file_types,
        min_files=min_files,
        max_files=max_files,
        max_file_bytes=max_file_bytes,
        score=score,
        required_for_borrowing=borrowing,
        required_for_lending=lending,
        external_source=external_source,
    )


B, A, S = Tier.BASIC, Tier.ADVANCED, Tier.SUPPLEMENTARY

KINDS: tuple[VerificationKind, ...] = (
    # --- M2.1 basic ------------------------------------------------------------------
    _kind(
        "ID_CARD",
        B,
        "ID card and household register",
        "M2.1, M2.3 (own ID)",
        (
            _NAME,
            _ID,
            FieldSpec("validUntil", "ID card valid until", required=False, format=FieldFormat.DATE),
        ),
        file_types=IMAGES,
        min_files=2,
        max_files=4,
        score=20,
        borrowing=True,
        lending=True,
    ),
    _kind(
        "VIDEO",
        B,
        "Video verification",
        "M2.1",
        (FieldSpec("statement", "The sentence read out in the video"),),
        file_types=VIDEOS,
        max_files=1,
        max_file_bytes=50 * MB,
        score=10,
        borrowing=True,
    ),
    _kind(
        "MOBILE_REAL_NAME",
        B,
        "Mobile number in the member's real name",
        "M2.1",
        (FieldSpec("phone", "Mobile number", personal=True, format=FieldFormat.PHONE), _NAME),
        min_files=0,
        max_files=2,
        score=5,
        borrowing=True,
        lending=True,
    ),
    _kind(
        "BANK_STATEMENT",
        B,
        "Bank statements (last 6 months)",
        "M2.1",
        (
            FieldSpec("bankName", "Bank"),
            FieldSpec("accountNumber", "Account number", personal=True, format=FieldFormat.NUMBER),
            FieldSpec(
                "monthlyIncome",
                "Monthly income shown by the statements, in yuan (12000.00)",
                format=FieldFormat.MONEY,
                max_length=20,
            ),
        ),
        max_files=6,
        max_file_bytes=10 * MB,
        score=10,
        borrowing=True,
    ),
    _kind(
        "CREDIT_REPORT",
        B,
        "Central-bank credit report",
        "M2.1",
        (_CONSENT, _NOTE),
        min_files=0,
        max_files=5,
        max_file_bytes=10 * MB,
        score=15,
        borrowing=True,
        external_source="credit_bureau",
    ),
    _kind(
        "COURT_RECORDS",
        B,
        "Court records check",
        "M2.1",
        (_CONSENT,),
        min_files=0,
        max_files=0,
        score=5,
        borrowing=True,
        external_source="court",
    ),
    _kind(
        "CONTACTS",
        B,
        "Emergency contacts",
        "M2.1",
        (
            FieldSpec(
                "contact1Name", "First contact's name", personal=True, format=FieldFormat.NAME
            ),
            FieldSpec("contact1Relation", "First contact's relation to you"),
            FieldSpec(
                "contact1Phone", "First contact's mobile", personal=True, format=FieldFormat.PHONE
            ),
            FieldSpec(
                "contact2Name",
                "Second contact's name",
                required=False,
                personal=True,
                format=FieldFormat.NAME,
            ),
            FieldSpec("contact2Relation", "Second contact's relation to you", required=False),
            FieldSpec(
                "contact2Phone",
                "Second contact's mobile",
                required=False,
                personal=True,
                format=FieldFormat.PHONE,
            ),
        ),
        min_files=0,
        max_files=0,
        score=5,
        borrowing=True,
    ),
    _kind(
        "RESIDENCE",
        B,
        "Place of residence",
        "M2.1",
        (
            FieldSpec("address", "Home address", personal=True),
            FieldSpec("livingSince", "Living there since", required=False, format=FieldFormat.DATE),
        ),
        min_files=0,
        max_files=3,
        score=5,
        borrowing=True,
    ),
    _kind(
        "ONLINE_REPUTATION",
        B,
        "Online reputation check (negative news)",
        "M2.1",
        (_CONSENT,),
        min_files=0,
        max_files=0,
        score=5,
        borrowing=True,
        external_source="reputation",
    ),
    _kind(
        "INDUSTRY_SHARING",
        B,
        "P2P industry credit-sharing check",
        "M2.1",
        (_CONSENT,),
        min_files=0,
        max_files=0,
        score=5,
        borrowing=True,
        external_source="industry_sharing",
    ),
    # --- M2.2 advanced ---------------------------------------------------------------
    _kind(
        "EDUCATION",
        A,
        "Education",
        "M2.2",
        (
            FieldSpec("school", "School or university"),
            FieldSpec("degree", "Degree"),
            FieldSpec(
                "certificateNumber",
                "Certificate number",
                required=False,
                personal=True,
                format=FieldFormat.NUMBER,
            ),
        ),
        max_files=3,
        score=5,
    ),
    _kind(
        "EMAIL",
        A,
        "E-mail address",
        "M2.2",
        (FieldSpec("email", "E-mail address", personal=True, format=FieldFormat.EMAIL),),
        min_files=0,
        max_files=0,
        score=2,
    ),
    _kind(
        "HOUSING_FUND",
        A,
        "Housing provident fund",
        "M2.2",
        (
            FieldSpec("city", "City"),
            FieldSpec(
                "fundAccount", "Fund account number", personal=True, format=FieldFormat.NUMBER
            ),
        ),
        max_files=6,
        max_file_bytes=10 * MB,
        score=10,
    ),
    _kind(
        "DRIVING_LICENCE",
        A,
        "Driving licence",
        "M2.2",
        (FieldSpec("licenceNumber", "Licence number", personal=True, format=FieldFormat.NUMBER),),
        file_types=IMAGES,
        max_files=2,
        score=3,
    ),
    _kind(
        "VEHICLE_LICENCE",
        A,
        "Vehicle licence",
        "M2.2",
        (
            FieldSpec("plateNumber", "Plate number", personal=True),
            FieldSpec("model", "Vehicle model", required=False),
        ),
        file_types=IMAGES,
        max_files=2,
        score=5,
    ),
    _kind(
        "REAL_ESTATE",
        A,
        "Real estate",
        "M2.2",
        (
            FieldSpec("address", "Property address", personal=True),
            FieldSpec(
                "certificateNumber",
                "Property certificate number",
                personal=True,
                format=FieldFormat.NUMBER,
            ),
        ),
        max_files=6,
        max_file_bytes=10 * MB,
        score=15,
    ),
    _kind(
        "SITE_VISIT",
        A,
        "Site visit",
        "M2.2",
        (
            FieldSpec("address", "Address to visit", personal=True),
            FieldSpec("preferredDate", "Preferred date", required=False, format=FieldFormat.DATE),
        ),
        min_files=0,
        max_files=5,
        score=10,
    ),
    _kind(
        "OTHER_ADVANCED",
        A,
        "Other advanced material",
        "M2.2",
        (FieldSpec("description", "What this is"),),
        max_files=5,
        max_file_bytes=10 * MB,
        score=2,
    ),
    # --- M2.3 supplementary ----------------------------------------------------------
    _kind(
        "FAMILY_ID",
        S,
        "Family members' ID cards",
        "M2.3",
        (
            FieldSpec("relation", "Relation to you"),
            FieldSpec("name", "Family member's name", personal=True, format=FieldFormat.NAME),
            FieldSpec(
                "idNumber", "Family member's ID number", personal=True, format=FieldFormat.ID_NUMBER
            ),
        ),
        file_types=IMAGES,
        min_files=2,
        max_files=4,
        score=2,
    ),
    _kind(
        "HOUSEHOLD_REGISTER",
        S,
        "Household register (family)",
        "M2.3",
        (_NOTE,),
        file_types=IMAGES,
        max_files=10,
        score=2,
    ),
    _kind(
        "LIFE_PHOTOS",
        S,
        "Life photos",
        "M2.3",
        (_NOTE,),
        file_types=IMAGES,
        max_files=10,
        score=1,
    ),
    _kind(
        "LABOUR_CONTRACT",
        S,
        "Labour contract",
        "M2.3",
        (FieldSpec("employer", "Employer"), _NOTE),
        max_files=10,
        max_file_bytes=10 * MB,
        score=3,
    ),
    _kind(
        "PROPERTY_CERTIFICATE",
        S,
        "Property certificate",
        "M2.3",
        (
            FieldSpec(
                "certificateNumber", "Certificate number", personal=True, format=FieldFormat.NUMBER
            ),
        ),
        max_files=4,
        score=3,
    ),
    _kind(
        "MARRIAGE_CERTIFICATE",
        S,
        "Marriage certificate",
        "M2.3",
        (
            FieldSpec("spouseName", "Spouse's name", personal=True, format=FieldFormat.NAME),
            FieldSpec(
                "certificateNumber",
                "Certificate number",
                required=False,
                personal=True,
                format=FieldFormat.NUMBER,
            ),
        ),
        file_types=IMAGES,
        max_files=4,
        score=2,
    ),
    _kind(
        "OTHER_SUPPLEMENTARY",
        S,
        "Other supplementary material",
        "M2.3",
        (FieldSpec("description", "What this is"),),
        max_files=5,
        max_file_bytes=10 * MB,
        score=1,
    ),
)

CATALOGUE: dict[str, VerificationKind] = {kind.code: kind for kind in KINDS}


def get_kind(code: str) -> VerificationKind | None:
    return CATALOGUE.get(code)
