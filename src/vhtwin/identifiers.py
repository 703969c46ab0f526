"""Direct identifiers: columns that would carry a patient's identity into vhtwin's data.

A covariate table or a clinical dataset is read column by column, and what vhtwin reads may reach a trial store, a
CSV file of predictions or a figure. A column whose name says it holds a name, a record number, a date of birth, an
address, contact details, a calendar date or free text is refused before anything is read from it, with the column
named: drop it (or rename it, if it is not what its name says) -- or opt in explicitly where the reader allows it.
Names are compared case-insensitively, ignoring spaces, underscores and hyphens ("Date of birth", "DATE_OF_BIRTH",
"dob" are one name).
"""

from __future__ import annotations

import re
from typing import Iterable

from .errors import InputError

__all__ = ["identifier_kind", "refuse_identifiers"]

#: What a column holds, by its normalised name.
IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "a name": ("name", "names", "firstname", "lastname", "surname", "fullname", "givenname", "familyname", "forename",
               "patientname", "subjectname", "initials"),
    "a record or registry number": ("mrn", "medicalrecordnumber", "medicalrecord", "recordnumber", "hospitalnumber",
                                    "nhsnumber", "nhsno", "ssn", "socialsecuritynumber", "insurancenumber",
                                    "passport", "passportnumber", "nationalid", "healthcardnumber"),
    "a date of birth": ("dob", "dateofbirth", "birthdate", "birthday"),
    "an address": ("address", "streetaddress", "street", "city", "zip", "zipcode", "postcode", "postalcode"),
    "contact details": ("phone", "phonenumber", "telephone", "mobile", "email", "emailaddress", "fax"),
    "free text": ("comment", "comments", "note", "notes", "remark", "remarks", "freetext"),
}
_KIND = {name: kind for kind, names in IDENTIFIERS.items() for name in names}


def identifier_kind(column) -> str | None:
    """What a column named ``column`` would identify a patient by ("a name", "a date", ...), or None."""
    key = re.sub(r"[\s_\-]", "", str(column).strip().lower())
    if key in _KIND:
        return _KIND[key]
    if key == "date" or key.endswith("date"):  # a calendar date (of a visit, an admission, ...)
        return "a calendar date"
    return None


def refuse_identifiers(columns: Iterable, where: str, opt_in: str | None = None) -> None:
    """Raise :class:`InputError` naming the first column of ``columns`` that looks like a direct identifier.

    ``where`` names the table ("covariate table", "dataset"); ``opt_in`` says how to keep such a column anyway
    (None: there is no way, since the column would not be used).
    """
    for column in columns:
        kind = identifier_kind(column)
        if kind is not None:
            keep = f", or pass {opt_in} to keep it" if opt_in else ""
            raise InputError(
                f"{where}: column {str(column)!r} looks like {kind}, a direct identifier, which vhtwin does not read; "
                f"drop the column (or rename it, if it is not one){keep}"
            )
