"""The street-name prior: what a misheard street's name sounds like, what it never changes."""

from __future__ import annotations

import pytest

from agent.business.street_names import is_known, known_names, sounds_like, split_glued_street

# Real UK street names, written from general knowledge, none of them in the prior's
# list (checked below): the prior must leave them alone as far as it can.
REAL_NOT_IN_PRIOR = """
Abbeydale Abercorn Abingdon Acton Agar Alcester Aldersgate Aldwych Alwyne Amhurst
Ampthill Amwell Anerley Argyle Arlington Ashburnham Ashmore Aylesbury Baker Balcombe
Balham Balls Banbury Barbican Baring Barnard Barnsbury Baron Battersea Battle Baxter
Bayswater Beak Bearwood Beckenham Belgrave Bellenden Benhill Bermondsey Berwick Bevis
Bickenhall Bishop Blackett Blackfriars Blandford Bloomsbury Boar Bold Boldmere Bolsover
Borough Botanic Bothwell Botley Bow Bowfell Bramham Brecknock Brick Bridgewater Briggate
Brigstock Brixton Broadhurst Brockley Bromley Brompton Brunel Bruntsfield Bryanston
Buchanan Bulstrode Bunhill Burdett Burton Butcher Byres Cable Cadogan Calabria Caledonia
Caledonian Calshot Calthorpe Camberwell Camden Cannon Canonbury Carlisle Carnaby Carter
Cassland Catford Cathays Cathcart Chalcot Chancery Charterhouse Cheapside Cheltenham
Chesterton Cheval Cheyne Chiltern Chorlton Chrisp Cicada Clapham Clapton Clerkenwell
Cloudesley Coldharbour Coleman Collingwood Colmore Compton Conduit Cooper Copenhagen
Copthall Coram Cornhill Corporation Coverdale Cowbridge Cowley Crawford Creek
Cricklewood Cromer Crookes Crouch Crow Croydon Crwys Culross Cumberland Cumming Curtain
Dalling Dalston Dancer Dartmouth Dawes Dean Deansgate Denmark Deptford Devons Digbeth
Doncaster Dorothy Doughty Downham Drury Dudley Dumbarton Durward Eagle Ebor Ebury
Ecclesall Eccleston Edgware Effra Egerton Elgar Elgin Ellerby Eltham Endell Ennis
Ennismore Euston Evelyn Exmouth Falcon Farrance Farringdon Fenchurch Finborough Finchley
Fitzroy Flask Fleet Foley Fortess Fortis Fournier Fowler Frith Fulbourne Fulham Fulwood
Gaisford Gallowgate Garratt Gateshead Gay Gerrard Glasshouse Glengall Goldhawk Goodge
Goswell Gower Gracechurch Graham Grainger Grays Greek Greenwich Greville Grey Guilford
Hackney Hagley Halkin Hampstead Hanbury Hanover Hanway Harehills Harley Harrington
Hatton Haverstock Hay Haymarket Headingley Headington Heddon Herne Highbury Hills Histon
Holborn Holloway Hollywood Hornsey Horseferry Hotwell Hoxton Hunter Huntingdon Iffley
Ifield Inverness Ironmonger Jamaica Jermyn Jesmond Jewry Judd Kilburn Kingsland
Kinnerton Kirkdale Kirkgate Kirkstall Ladbroke Ladywell Lambeth Lansdown Lark Lauderdale
Leadenhall Leather Leighton Leith Lennox Lensfield Lewisham Liberia Lichfield Lillie
Lisson Lister Liverpool Lloyd Lombard Lordship Lothbury Lothian Lozells Ludgate Lupus
Lysia Mackintosh Maida Mare Margaret Marsham Maryhill Marylebone Mathew Matilda Mayes
Mayfair Mecklenburgh Mendip Mercer Mildmay Millbank Milsom Minories Mitcham Monmouth
Montpelier Moorgate Moreton Morningside Mortimer Moseley Mosley Munster Murray Muswell
Myddelton Narrow Neal Newhall Newington Newmarket Nile Niton Noel Norbury Northcote
Northumberland Ockendon Offord Oldham Onslow Ossulston Otley Paddington Paisley Palatine
Pancras Parliament Paternoster Pavilion Pelham Penge Penn Penton Pentonville Pershore
Petherton Philip Piccadilly Pilgrim Pimlico Pitfield Plender Poland Pollokshaws Pond
Pontefract Portman Portobello Poultry Praed Pulteney Putney Quayside Quex Radnor Ramsden
Randells Ranelagh Rannoch Rathbone Redchurch Redcliffe Renshaw Ringmer Rivington Rodney
Roman Ronalds Ross Rotherfield Roundhay Rupert Rylston Sackville Salmon Sandhill Sankey
Sauchiehall Seel Seething Shadwell Shepherdess Shirland Shoe Shooters Sidmouth Slater
Sloane Smith Soho Southampton Spital Splott Stamford Stevenage Stoke Stourbridge Stowell
Strand Streatham Sudbury Sumner Sutton Sydenham Tabard Tabernacle Tachbrook Tanner
Tavistock Tenison Tettenhall Theobalds Thornhill Threadneedle Thurloe Tite Tollington
Tolpuddle Tooley Tooting Torrington Tottenham Tregunter Tremadoc Trongate Trumpington
Tufton Turnpike Tyers Vanbrugh Varden Vere Wakefield Walcot Walsall Walworth Wandsworth
Wapping Wardour Warner Weaver Webbs Wells Wellsway Wenlock Westferry Whitchurch
Whitecross Whiteladies Whitfield Widcombe Wightman Wigmore Wilmslow Wilton Wimpole
Woodstock Wormwood Worship
""".split()  # noqa: SIM905 (a list of names to read, not code)


@pytest.mark.parametrize(
    ("heard", "known"),
    [
        ("rows", "Rose"),
        ("manner", "Manor"),
        ("mark on", "Market"),
        ("chirch", "Church"),
        ("vicktoria", "Victoria"),
        ("albut", "Albert"),
        ("kingz", "Kings"),
        ("wellingtun", "Wellington"),
        # never changed: known names, place-shaped names, too short or too far to judge
        ("High", None),
        ("mill", None),
        ("St. John's", None),
        ("Tollington", None),
        ("Ashburnham", None),
        ("hi", None),
        ("rounds", None),
        ("can throw it", None),
        ("electro", None),
    ],
)
def test_sounds_like(heard: str, known: str | None) -> None:
    assert sounds_like(heard) == known


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("millerode", ("Mill", "Road")),
        ("million", ("Mill", "Lane")),
        ("churchrode", ("Church", "Road")),
        ("electrode", None),  # no known name in front of the street word
        ("mill", None),  # a known name itself
        ("holloway", None),  # shaped like a place name: a real street the prior lacks
        ("barnard", None),  # "-ard" is not "road"
    ],
)
def test_split_glued_street(word: str, parts: tuple[str, str] | None) -> None:
    assert split_glued_street(word) == parts


def test_the_prior_is_a_few_hundred_names_keyed_without_case_or_apostrophes() -> None:
    assert len(known_names()) >= 300
    assert is_known("Kings") and is_known("king's") and is_known("St Johns")
    assert not is_known("Rows")


def test_the_held_out_names_are_not_in_the_prior() -> None:
    assert len(REAL_NOT_IN_PRIOR) >= 400
    assert [n for n in REAL_NOT_IN_PRIOR if is_known(n)] == []


def test_few_real_street_names_are_taken_for_another_even_written_lower_case() -> None:
    # Lower case is the worst case: a recogniser capitalises a name it knows, and a
    # capitalised name is never matched (tests/dialogue/test_street_prior.py).
    corrected = {n: g for n in REAL_NOT_IN_PRIOR if (g := sounds_like(n.lower()))}
    assert len(corrected) / len(REAL_NOT_IN_PRIOR) <= 0.03, corrected
    assert all(split_glued_street(n.lower()) is None for n in REAL_NOT_IN_PRIOR)
