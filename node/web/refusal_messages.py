"""The refusals of the city's monitoring (``node/services``, ``node/web``) in the reader's words.

Registered with :func:`node.refusals.register` when the app starts (``node.app``); see
:mod:`node.refusals` for how pages use them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.refusals import Lead, Message

MESSAGES: dict[str, Message] = {
    # Users, roles, tokens, passwords.
    "user_exists": _l("A user with this e-mail address already exists."),
    "user_not_found": _l("There is no such user."),
    "user_inactive": _l("This user is deactivated: reactivate them first."),
    "invalid_role": _l("This role does not exist. Choose one from the list."),
    "last_admin": _l("This is the last administrator: make someone else administrator first."),
    "token_not_found": _l("There is no such access token."),
    "weak_password": _l("This password is too easy to guess: see the advice beside the field."),
    "reset_link_invalid": _l(
        "This password reset link is not valid any more. Ask an administrator for a new one."
    ),
    "weak_password:too_short": _l("The password needs at least %(min)s characters."),
    "weak_password:too_long": _l("The password can have at most %(max)s characters."),
    "weak_password:contains_email": _l("The password must not contain your e-mail address."),
    "weak_password:repeated": _l(
        "The password must not be one character or a short piece repeated."
    ),
    "weak_password:sequence": _l(
        "The password must not be a sequence such as abcdef…, 123456… or qwerty…."
    ),
    "weak_password:common": _l(
        "This is one of the most common passwords: choose a longer passphrase."
    ),
    "weak_password:short_without_names": _l(
        "Without your name, e-mail address or the city's name, the password must still have at "
        "least %(min)s characters."
    ),
    "weak_password:names_trivial": _l(
        "The password is the city's name or your name with a trivial addition: choose a "
        "passphrase of your own."
    ),
    # Figures.
    "result_not_found": _l("There is no such figure."),
    "result_locked": _l(
        "The figure of %(indicator)s for %(period)s already has the status “%(status)s”: ask "
        "an official to change it."
    ),
    "reason_required:figure_vouched": _l(
        "This figure already has the status “%(status)s” (value %(value)s): say why it changes."
    ),
    "reason_required:figure_taken_back": _l(
        "This figure has been vouched for: say why it goes back to the status “%(status)s”."
    ),
    "reason_required:results_taken_back": _l(
        "%(count)s figures are validated or published: give a reason to take them back. "
        "Nothing was changed."
    ),
    "outlier_unconfirmed": Lead(_l("This value is far from the previous period's.")),
    "outlier_unconfirmed:points": _l(
        "%(value)s is more than %(points)s points away from %(previous_period)s "
        "(%(previous)s): check it, then confirm it."
    ),
    "outlier_unconfirmed:factor": _l(
        "%(value)s is more than %(factor)s times higher or lower than %(previous_period)s "
        "(%(previous)s): check it, then confirm it."
    ),
    "validation_failed:unknown_indicator": _l("There is no indicator %(indicator)s."),
    "validation_failed:yes_no": _l(
        "This indicator is a yes/no answer: write true or false (or 1 or 0)."
    ),
    "validation_failed:not_a_number": _l(
        "“%(value)s” is not a number: write a number such as 12.5."
    ),
    "validation_failed:ordinal_whole": _l("A score is a whole number."),
    "validation_failed:reason_too_long": _l("The reason can have at most %(max)s characters."),
    "validation_failed:number_not_boolean": _l("This indicator takes a number, not yes or no."),
    "validation_failed:unknown_status": _l(
        "The status must be one of draft, validated or published."
    ),
    "validation_failed:status_not_allowed": _l(
        "Only officials may validate or publish a figure: enter it as a draft."
    ),
    "validation_failed:cases_not_whole": _l(
        "The number of cases is a whole number of people or cases, 0 or more."
    ),
    "validation_failed:given_twice": _l(
        "The same figure is given twice (it is also item %(item)s)."
    ),
    "validation_failed:reason_not_text": _l("The reason must be text."),
    "validation_failed:no_selector": _l(
        "Say which figures: choose an indicator, a period or some figures."
    ),
    # Breakdowns (node.disaggregation): which dimensions and codes a figure may have.
    "validation_failed:breakdown_not_object": _l(
        "The breakdown must be written as dimension → code."
    ),
    "validation_failed:breakdown_not_text": _l("A breakdown's dimension and code must be text."),
    "validation_failed:unknown_dimension": _l(
        "%(dimension)s is not a breakdown of this indicator (it has: %(allowed)s)."
    ),
    "validation_failed:unknown_dimension_none_allowed": _l(
        "%(dimension)s is not a breakdown of this indicator: it has no breakdowns."
    ),
    "validation_failed:unknown_breakdown_code": _l(
        "“%(code)s” is not a code of the breakdown %(dimension)s (its codes: %(known)s)."
    ),
    "validation_failed:unknown_breakdown_code_none_yet": _l(
        "“%(code)s” is not a code of the breakdown %(dimension)s: it has no codes yet."
    ),
    # The breakdown cells of an imported file (node.importing.own_layout).
    # Cells and columns of an uploaded file (own layout, Open SDG).
    "validation_failed:import_missing_column": _l(
        "The required column “%(column)s” is missing. The first row must name the columns "
        "indicator, period and value, then any of status, source, method, note and dimension "
        "codes such as SEX."
    ),
    "validation_failed:import_unknown_column": _l(
        "“%(column)s” is not a column of this layout. Allowed columns: indicator, period, "
        "value, status, source, method, note, and the dimension codes %(known)s."
    ),
    "validation_failed:import_unknown_column_no_dimensions": _l(
        "“%(column)s” is not a column of this layout. Allowed columns: indicator, period, "
        "value, status, source, method, note (the catalogue has no breakdowns yet)."
    ),
    "validation_failed:import_repeated_figure": _l(
        "Row %(first_row)s already gives %(previous)s for indicator %(indicator)s, period "
        "%(period)s, breakdown %(breakdown)s; this row gives %(value)s. Keep only the correct one."
    ),
    "validation_failed:import_repeated_total": _l(
        "Row %(first_row)s already gives %(previous)s for the total of indicator %(indicator)s, "
        "period %(period)s; this row gives %(value)s. Keep only the correct one."
    ),
    "validation_failed:import_repeated_column": _l(
        "Column “%(column)s” repeats column “%(first)s”. Keep one of them."
    ),
    "validation_failed:import_empty_indicator": _l(
        "The indicator code is empty. Enter a code of the catalogue, e.g. HRC-HOU-04."
    ),
    "validation_failed:import_unknown_indicator": _l(
        "“%(indicator)s” is not an indicator of the catalogue. Check the code; a local "
        "indicator must be added to the catalogue first."
    ),
    "validation_failed:import_empty_value": _l(
        "The value is empty. Enter the figure, or leave the row out."
    ),
    "validation_failed:import_not_yes_no": _l(
        "“%(text)s” is not a yes/no answer. Indicator %(indicator)s takes true or false "
        "(yes/no and 1/0 are accepted too)."
    ),
    "validation_failed:import_too_many_digits": _l("“%(text)s” has too many digits."),
    "validation_failed:import_not_a_number": _l(
        "“%(text)s” is not a number. Write digits with a point for decimals, e.g. 12.5, "
        "without thousands separators or units."
    ),
    "validation_failed:import_not_a_number_comma": _l(
        "“%(text)s” is not a number. Use a point, not a comma, as decimal separator "
        "(12.5, not 12,5)."
    ),
    "validation_failed:import_not_a_number_percent": _l(
        "“%(text)s” is not a number. Leave out the %% sign: the unit comes from the indicator."
    ),
    "validation_failed:import_unknown_status": _l(
        "“%(given)s” is not a status. Use one of: %(allowed)s (or leave it empty)."
    ),
    "validation_failed:import_text_too_long": _l(
        "The text is %(length)s characters long; at most %(limit)s are allowed."
    ),
    "validation_failed:import_empty_period": _l(
        "The period is empty. Use 2025, 2025-H1, 2025-Q3 or 2025-07."
    ),
    "validation_failed:import_unknown_code": _l(
        "“%(code)s” is not a code of %(dimension)s (%(label)s). Known codes: %(known)s."
    ),
    "validation_failed:import_unknown_code_none_yet": _l(
        "“%(code)s” is not a code of %(dimension)s (%(label)s): it has no codes yet."
    ),
    "validation_failed:import_no_such_breakdown": _l(
        "Indicator %(indicator)s has no breakdown by %(dimension)s: leave this cell empty. "
        "Breakdowns of %(indicator)s: %(allowed)s."
    ),
    "validation_failed:import_no_such_breakdown_totals_only": _l(
        "Indicator %(indicator)s has no breakdown by %(dimension)s: leave this cell empty. "
        "%(indicator)s has totals only."
    ),
    "validation_failed:import_unknown_value": _l(
        "“%(code)s” is not a known value of %(dimension)s (%(label)s). Codes of %(dimension)s: "
        "%(known)s."
    ),
    "validation_failed:import_unknown_value_mapped": _l(
        "“%(code)s” is not a known value of %(dimension)s (%(label)s). The column mapping "
        "gives: %(mapping)s. Codes of %(dimension)s: %(known)s."
    ),
    "validation_failed:import_unknown_value_none_yet": _l(
        "“%(code)s” is not a known value of %(dimension)s (%(label)s): %(dimension)s has no "
        "codes yet."
    ),
    "validation_failed:import_unknown_value_mapped_none_yet": _l(
        "“%(code)s” is not a known value of %(dimension)s (%(label)s). The column mapping "
        "gives: %(mapping)s. %(dimension)s has no codes yet."
    ),
    "validation_failed:import_two_values": _l(
        "Two columns of this row give a %(dimension)s value: a figure can have only one."
    ),
    # The Open SDG layout's own rules (node.importing.open_sdg).
    "validation_failed:open_sdg_missing_column": _l(
        "The file has no “%(column)s” column. An Open SDG file has the columns Year, any "
        "breakdown columns, optionally Units, and Value (these English names, as Open SDG "
        "writes them)."
    ),
    "validation_failed:open_sdg_no_indicator": _l(
        "No indicator is given: choose the indicator this file reports, or give a column "
        "mapping that says which indicator each unit of the file belongs to."
    ),
    "validation_failed:open_sdg_unknown_column": _l(
        "The column “%(column)s” does not match any breakdown of the catalogue (known: "
        "%(known)s). Describe it in the column mapping's “columns”."
    ),
    "validation_failed:open_sdg_unknown_column_no_dimensions": _l(
        "The column “%(column)s” does not match any breakdown: the catalogue has no breakdowns yet."
    ),
    "validation_failed:open_sdg_unknown_units": _l(
        "The unit “%(units)s” is not in the column mapping, so its indicator is unknown. Units "
        "the mapping knows: %(known)s."
    ),
    "validation_failed:open_sdg_mixed_units": _l(
        "This file mixes several units (“%(first)s” and “%(units)s”). Give a column mapping "
        "that says which indicator each unit belongs to."
    ),
    "validation_failed:open_sdg_not_a_year": _l(
        "“%(text)s” is not a year. Write the year with four digits, e.g. 2019."
    ),
    "validation_failed:open_sdg_column_not_used": _l(
        "The column mapping says the column “%(column)s” is not used, but this row has "
        "“%(text)s” in it. Leave the cell empty or describe the column in the mapping."
    ),
    "validation_failed:open_sdg_column_not_used_for_units": _l(
        "The column mapping says the column “%(column)s” is not used for the unit "
        "“%(units)s”, but this row has “%(text)s” in it. Leave the cell empty or describe the "
        "column in the mapping."
    ),
    "validation_failed:open_sdg_profile_needed": _l(
        "An Open SDG file needs the indicator it reports, or a column mapping: give one of them."
    ),
    # The column mapping of an Open SDG file (node.importing.profile).
    "validation_failed:profile_malformed": _l(
        "This part of the column mapping is not written as expected. (In English: %(detail)s)"
    ),
    "validation_failed:profile_unknown_indicator": _l(
        "%(where)s: “%(indicator)s” is not an indicator of the catalogue."
    ),
    "validation_failed:profile_no_indicator": _l(
        "The column mapping names no indicator: give “indicator”, or “units” that say which "
        "indicator each unit of the file belongs to."
    ),
    "validation_failed:profile_unknown_dimension": _l(
        "%(where)s: “%(dimension)s” is not a breakdown of the catalogue."
    ),
    "validation_failed:profile_unknown_code": _l(
        "%(where)s: “%(source)s” is given the code “%(code)s”, which is not a code of "
        "%(dimension)s."
    ),
    # Baselines, targets and budget lines (node.services.planning, node.services.monitoring).
    "validation_failed:value_missing": _l("Give a value with the period."),
    "validation_failed:target_empty": _l("Give a baseline, a target, or both."),
    "validation_failed:target_before_baseline": _l(
        "The target period must come after the baseline period."
    ),
    "validation_failed:amount_negative": _l("An amount cannot be negative."),
    # Evidence and its attachments.
    "validation_failed:evidence_kind": _l("Choose one of the kinds of evidence in the list."),
    "validation_failed:too_many_files": _l("You can attach at most %(max)s files."),
    "validation_failed:file_too_large": _l(
        "%(name)s is larger than %(bytes)s bytes, the most this node accepts."
    ),
    "validation_failed:file_kind": _l("%(name)s is not a PDF, PNG, JPEG or plain-text file."),
    "cso_figure_not_found": _l("There is no such civil-society figure."),
    "cso_figure_not_yours": _l(
        "Only the person who entered this civil-society figure may change or publish it."
    ),
    "cso_figure_published": _l(
        "This figure is already published as a signed statement: it can no longer change."
    ),
    "cso_figure_withdrawn": _l(
        "This figure was withdrawn: a withdrawn figure cannot be entered again for the same "
        "organisation, indicator, period and breakdown."
    ),
    "cso_figure_not_published": _l("Only a published figure can be withdrawn."),
    "cso_figure_not_shared": _l(
        "This figure is not shared with twin cities, so there is no sharing to withdraw."
    ),
    "evidence_not_found": _l("There is no such piece of evidence."),
    "attachment_not_found": _l("This attachment cannot be found."),
    # Imports.
    "unreadable_file": Lead(
        _l("The file cannot be read: save it as CSV (UTF-8) or Excel (.xlsx) and try again.")
    ),
    "invalid_profile": Lead(_l("The column mapping is not valid.")),
    "import_rejected": _l(
        "Some rows of the file have problems; nothing was imported. See the list below, correct "
        "the file and import it again."
    ),
    # The upload reader's own refusals (node/importing/table.py): a file refused whole
    # (unreadable_file, its sentence complete) and a row's cell or shape (unreadable_cell).
    "unreadable_file:table_no_content": _l(
        "The file cannot be read: no file content was received."
    ),
    "unreadable_file:table_old_xls": _l(
        "The file cannot be read: this is an old-style Excel file (.xls). Open it in your "
        "spreadsheet program and save it as an Excel workbook (.xlsx) or as “CSV UTF-8”, then "
        "upload it again."
    ),
    "unreadable_file:table_named_like_workbook": _l(
        "The file cannot be read: “%(name)s” is named like an Excel workbook but is not one (an "
        ".xlsx file is a zip archive). Save it again from your spreadsheet program."
    ),
    "unreadable_file:table_unreadable": _l(
        "The file cannot be read as a table. Upload a CSV file (UTF-8) or an Excel workbook "
        "(.xlsx). (%(kind)s)"
    ),
    "unreadable_file:table_binary": _l(
        "The file cannot be read: it looks like a binary file, not a CSV text file or an .xlsx "
        "workbook."
    ),
    "unreadable_file:table_empty": _l("The file cannot be read: it is empty."),
    "unreadable_file:table_not_utf8": _l(
        "The file cannot be read: it is not UTF-8 text (the first unreadable character is on line "
        "%(line)s). In your spreadsheet program choose “Save as” → “CSV UTF-8”, or upload the "
        ".xlsx workbook instead."
    ),
    "unreadable_file:table_row_unreadable": _l(
        "The file cannot be read: row %(row)s could not be read. (In English: %(detail)s)"
    ),
    "unreadable_file:table_xlsx_damaged": _l(
        "The file cannot be read: it looks like an Excel workbook (.xlsx) but is damaged or "
        "incomplete. Save it again and upload the new copy."
    ),
    "unreadable_file:table_workbook_too_large": _l(
        "The file cannot be read: the workbook is too large to import. Split it into smaller files."
    ),
    "unreadable_file:table_not_a_workbook": _l(
        "The file cannot be read: it could not be opened as an Excel workbook (.xlsx). If it comes "
        "from another program (e.g. .ods), save it as .xlsx or as “CSV UTF-8”."
    ),
    "unreadable_file:table_no_worksheet": _l(
        "The file cannot be read: the workbook has no worksheet with data."
    ),
    "unreadable_file:table_sheet_damaged": _l(
        "The file cannot be read: the workbook (.xlsx) is damaged, its first worksheet could not "
        "be read. Save it again from your spreadsheet program and upload the new copy."
    ),
    "unreadable_file:table_row_beyond_bounds": _l(
        "The file cannot be read: the worksheet has cells in row %(row)s; an import reads rows 1 "
        "to %(max_row)s (at most %(max_rows)s data rows). Delete the rows below your data (select "
        "them, right-click, Delete) and save again."
    ),
    "unreadable_file:table_too_many_cells": _l(
        "The file cannot be read: the worksheet has too many cells to import. Split it into "
        "smaller files."
    ),
    "unreadable_file:table_column_beyond_bounds": _l(
        "The file cannot be read: row %(row)s has a value in column %(column)s; an import reads at "
        "most %(max_columns)s columns."
    ),
    "unreadable_file:table_header_not_text": _l(
        "The file cannot be read: the header row (row %(row)s) must hold column names as text; "
        "cell %(cell)s does not (it holds a date, an invalid number or a character that is not "
        "text). Type the column's name in it."
    ),
    "unreadable_file:table_no_header": _l(
        "The file cannot be read: it has no header row; the first row must name the columns."
    ),
    "unreadable_file:table_too_many_rows": _l(
        "The file cannot be read: it has more than %(max_rows)s data rows. Split it into smaller "
        "files."
    ),
    "unreadable_file:table_too_many_columns": _l(
        "The file cannot be read: it has more than %(max_columns)s columns."
    ),
    "unreadable_file:table_unnamed_column": _l(
        "The file cannot be read: column %(position)s of the header row (row %(row)s) has no name. "
        "Every column needs a heading."
    ),
    "unreadable_file:table_column_twice": _l(
        "The file cannot be read: the column “%(name)s” appears twice in the header row (row "
        "%(row)s). Each column name may appear once."
    ),
    "unreadable_cell": Lead(_l("A cell of this row cannot be read.")),
    "unreadable_cell:table_date_cell": _l(
        "The cell %(cell)s holds a date or time. Type periods as text such as 2025, 2025-H1, "
        "2025-Q3 or 2025-07, and values as plain numbers (format the cell as “Text” or “General”)."
    ),
    "unreadable_cell:table_invalid_number": _l(
        "The cell %(cell)s holds an invalid number (infinite or not a number)."
    ),
    "unreadable_cell:table_invalid_text": _l(
        "The cell %(cell)s holds a character that is not valid text (NUL or a lone surrogate)."
    ),
    "unreadable_cell:table_short_row": _l(
        "This row has %(cells)s cells but the header has %(columns)s columns. Check for a missing "
        "separator or a cell split in two."
    ),
    "unreadable_cell:table_right_of_header": _l(
        "This row has values to the right of the last named column (%(extra)s more than the "
        "header). Give every column a name in row %(header_row)s or remove the extra cells."
    ),
    "unreadable_cell:table_right_of_sheet": _l(
        "This row has values to the right of the last named column. Give every column a name in "
        "row %(header_row)s or remove the extra cells."
    ),
    # Catalogue.
    "indicator_not_found": _l("There is no such indicator."),
    "indicator_exists": _l("An indicator with this code already exists."),
    "dimension_exists": _l("This breakdown already exists: add codes to it instead."),
    "dimension_not_found": _l("There is no such breakdown."),
    "dimension_code_exists": _l("Some of these codes already exist in this breakdown."),
    # Forms of the network pages.
    "invalid_form": Lead(_l("The form is not complete.")),
}
