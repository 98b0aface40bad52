"""Understanding by meaning: how callers put it -> the company's service and emergency.

Each row is a caller's phrasing, the company called, and what the call must
make of it (service id, and the emergency keyword or ``None``). The phrasings
avoid the companies' own keywords where callers would: that is the point.
"""

from __future__ import annotations

import json

import pytest

from agent.business.company import EXAMPLE_COMPANIES, parse_company
from agent.dialogue.meaning import concepts, enrich
from agent.dialogue.slots import match_service

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
PLUMBER = parse_company(DATA["companies"][0])
SPARKS = parse_company(DATA["companies"][1])
P, S = PLUMBER, SPARKS

TABLE = [
    # plumbing: leaks
    (P, "there's water everywhere", "leak_repair", None),
    (P, "water all over the kitchen floor", "leak_repair", None),
    (P, "there's a puddle under the sink that keeps coming back", "leak_repair", None),
    (P, "I've got a damp patch on the wall by the bath", "leak_repair", None),
    (P, "the pipe under the basin is weeping", "leak_repair", None),
    (P, "water is coming out from behind the washing machine", "leak_repair", None),
    (P, "my tap won't stop running", "leak_repair", None),
    (P, "the cistern keeps running all night", "leak_repair", None),
    (P, "I think the stopcock is faulty", "leak_repair", None),
    (P, "the kitchen sink is leaking", "leak_repair", None),
    (P, "there's a drip from the ceiling", "leak_repair", None),
    # plumbing: emergencies
    (P, "my kitchen is flooding", "leak_repair", "flood"),
    (P, "the bathroom has flooded", "leak_repair", "flood"),
    (P, "the kitchen is under an inch of water", "leak_repair", "flood"),
    (P, "there's two inches of water in the cellar", "leak_repair", "flood"),
    (P, "water is coming through the ceiling", "leak_repair", "water through the ceiling"),
    (P, "water is pouring through the light fitting", "leak_repair", "flood"),
    (P, "a pipe has burst in the loft", "leak_repair", "burst pipe"),
    (P, "I think we've got a burst pipe", "leak_repair", "burst pipe"),
    (P, "water's gushing out of the wall", "leak_repair", "flood"),
    (P, "the pipe just split and it's spraying everywhere", "leak_repair", "flood"),
    (P, "I can smell gas in the hallway", "boiler_repair", "gas smell"),
    (P, "there's a smell of gas near the boiler", "boiler_repair", "gas smell"),
    (P, "I think there's a gas leak", "boiler_repair", "gas smell"),
    (P, "there's a smell like rotten eggs by the cooker", "boiler_repair", "gas smell"),
    (P, "it smells of sulphur in the kitchen", "boiler_repair", "gas smell"),
    (P, "the carbon monoxide alarm is going off", "boiler_repair", "gas smell"),
    (P, "our CO alarm keeps beeping by the boiler", "boiler_repair", "gas smell"),
    (P, "my washing machine hose burst and the floor is soaked", "leak_repair", "burst pipe"),
    (P, "the hot water tank has split", "leak_repair", "burst pipe"),
    (P, "there's water coming up through the floor", "leak_repair", "flood"),
    (P, "water is seeping out of the wall behind the bath", "leak_repair", "flood"),
    # plumbing: heating and hot water
    (P, "we've got no hot water", "boiler_repair", None),
    (P, "the heating isn't working", "boiler_repair", None),
    (P, "no heating since yesterday", "boiler_repair", None),
    (P, "the radiators are cold", "boiler_repair", None),
    (P, "the pilot light keeps going out", "boiler_repair", None),
    (P, "my combi is showing an error code", "boiler_repair", None),
    (P, "the shower is stone cold", "boiler_repair", None),
    (P, "boiler pressure keeps dropping", "boiler_repair", None),
    (P, "the hot water has stopped", "boiler_repair", None),
    # plumbing: blockages
    (P, "the toilet won't flush", "drain_unblock", None),
    (P, "the loo is blocked", "drain_unblock", None),
    (P, "my sink won't drain", "drain_unblock", None),
    (P, "the water won't go down the plughole", "drain_unblock", None),
    (P, "the bath isn't draining", "drain_unblock", None),
    (P, "the toilet is overflowing", "drain_unblock", None),
    (P, "the drains outside are backing up", "drain_unblock", None),
    (P, "there's a horrible smell from the drains", "drain_unblock", None),
    (P, "the shower is clogged with hair", "drain_unblock", None),
    (P, "the wc keeps getting bunged up", "drain_unblock", None),
    # electrics: emergencies
    (S, "sparks came out of the socket", "fault_finding", "sparking"),
    (S, "the plug sparked when I switched it on", "fault_finding", "sparking"),
    (S, "there's a burning smell from the fuse box", "fault_finding", "burning smell"),
    (S, "the socket is melting", "fault_finding", "burning smell"),
    (S, "there's smoke coming from the light switch", "fault_finding", "smoke"),
    (S, "my son got a shock from the kettle socket", "fault_finding", "electric shock"),
    (S, "we've got no electricity at all", "fault_finding", "no power"),
    (S, "the power has gone off in the whole house", "fault_finding", "no power"),
    (S, "there's scorch marks round the plug", "fault_finding", "burning smell"),
    (S, "I can see arcing in the consumer unit", "fault_finding", "sparking"),
    # electrics: faults
    (S, "the trip switch keeps going", "fault_finding", None),
    (S, "the RCD keeps tripping", "fault_finding", None),
    (S, "half the sockets don't work", "fault_finding", None),
    (S, "the kitchen lights keep flickering", "fault_finding", None),
    (S, "the breaker goes every time I use the oven", "fault_finding", None),
    (S, "a socket in the bedroom is dead", "fault_finding", None),
    (S, "the switch in the hall stopped working", "fault_finding", None),
    # electrics: certificates
    (S, "I need an EICR for my flat", "eicr", None),
    (S, "I need a landlord's certificate", "eicr", None),
    (S, "my letting agent wants an electrical inspection", "eicr", None),
    (S, "can you do a safety certificate for a rental", "eicr", None),
    (S, "I've got new tenants moving in and need the electrics checked", "eicr", None),
    (S, "it's due its periodic inspection", "eicr", None),
]


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 60


@pytest.mark.parametrize(("profile", "said", "service", "emergency"), TABLE)
def test_phrasing_means_service_and_emergency(profile, said, service, emergency) -> None:
    found = match_service(said, profile.services)
    assert (found.id if found else None) == service
    assert profile.find_emergency(enrich(said)) == emergency


def test_plain_words_pass_through_and_nothing_is_invented() -> None:
    assert enrich("can I book a visit for Tuesday") == "can I book a visit for Tuesday"
    assert concepts("there's water everywhere") == ("leak",)
    # the demo's leaking sink with water everywhere is a leak, not a flood to transfer
    assert PLUMBER.find_emergency(enrich("my sink is leaking, water everywhere")) is None
