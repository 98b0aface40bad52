"""The company's words for the recogniser's prompt."""

from __future__ import annotations

import json

import attrs

from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.dialogue.vocabulary import company_terms, company_vocabulary

COMPANIES = parse_directory(json.loads(EXAMPLE_COMPANIES.read_text())).companies
PLUMBER = COMPANIES[0]


def test_the_prompt_names_the_company_its_services_and_its_area():
    vocabulary = company_vocabulary(PLUMBER)
    assert vocabulary.prompt == (
        "Thanks for calling Thames Plumbing and Heating. Leak repair, boiler repair,"
        " drain unblocking. We cover SW1, SW3, SW7, SE1, SE11, W1, WC and EC4."
    )
    assert vocabulary.hotwords == ""  # measured worse (bench/recogniser_wer.py)


def test_a_company_without_area_or_services_gets_its_name_only():
    bare = attrs.evolve(PLUMBER, services=(), service_area=())
    assert company_vocabulary(bare).prompt == "Thanks for calling Thames Plumbing and Heating."


def test_the_prompt_stays_short_whatever_the_profile():
    many = attrs.evolve(PLUMBER, services=PLUMBER.services * 30, service_area=("SW1",) * 50)
    assert len(company_vocabulary(many).prompt.split()) <= 60


def test_terms_are_the_names_and_keywords_once_each():
    terms = company_terms(PLUMBER).split(", ")
    assert terms[:2] == ["Thames Plumbing and Heating", "Leak repair"]
    assert "radiator" in terms and len(terms) == len(set(terms))
