"""A realistic sample register, generated deterministically from a seed (for demos and tests).

:func:`generate_register` builds the city's districts, the member units of
the task force and each district's office, the staff the shipped definitions
bind roles to (the coordinating office, the task-force leader, opinion
monitors, star-list judges, with the sample directory's ids), service
commissioners, and ``count`` enterprises spread over every district and the
four sectors, each with a Chinese and an English name, a valid unified social
credit code, a contact and one or two commissioners. The same seed always
gives the same register; every address is in a reserved example domain.
"""

from __future__ import annotations

import random

from workflow.directory.creditcode import ALPHABET, make_credit_code
from workflow.directory.records import SECTORS, District, Enterprise, Person, Register, Unit

__all__ = ["generate_register"]

# (id suffix, Chinese, English, administrative division code).
_DISTRICTS = (
    ("jianghan", "江漢區", "Jianghan District", "420103"),
    ("wuchang", "武昌區", "Wuchang District", "420106"),
    ("hanyang", "漢陽區", "Hanyang District", "420105"),
    ("donghu", "東湖高新區", "East Lake High-tech Zone", "420171"),
    ("jiangan", "江岸區", "Jiang'an District", "420102"),
    ("qiaokou", "硚口區", "Qiaokou District", "420104"),
    ("qingshan", "青山區", "Qingshan District", "420107"),
    ("hongshan", "洪山區", "Hongshan District", "420111"),
    ("jingkai", "武漢經開區", "Wuhan Economic Development Zone", "420172"),
    ("scenic", "東湖風景區", "East Lake Scenic Area", "420173"),
)

# The task force's member units: (id, Chinese, English, contact id, contact's surname).
_UNITS = (
    ("u_culture", "市文化和旅遊局", "Culture and Tourism Bureau", "unit.chen", "陳"),
    ("u_finance", "市財政局", "Finance Bureau", "unit.qian", "錢"),
    ("u_hr", "市人力資源局", "Human Resources Bureau", "unit.zhou", "周"),
    ("u_bank", "銀企對接辦公室", "Bank-Liaison Office", "unit.feng", "馮"),
    ("u_stats", "市統計局", "Statistics Bureau", "unit.ma", "馬"),
    ("u_cyber", "市委網信辦", "Cyberspace Affairs Office", "unit.bai", "白"),
    ("u_market", "市市場監管局", "Market Regulation Bureau", "unit.kong", "孔"),
    ("u_commerce", "市商務局", "Commerce Bureau", "unit.lu", "盧"),
    ("u_science", "市科技局", "Science and Technology Bureau", "unit.jiang", "蔣"),
    (
        "u_planning",
        "市自然資源和規劃局",
        "Natural Resources and Planning Bureau",
        "unit.tian",
        "田",
    ),
)

# Staff the shipped definitions bind roles to: (id, name, groups).
_STAFF = (
    ("office.li", "李主任", ("coordinating_office",)),
    ("office.wang", "王科員", ("coordinating_office",)),
    ("office.zhang", "張科員", ("coordinating_office",)),
    ("leader.wu", "吳組長", ("task_force_leaders",)),
    ("monitor.cao", "曹監測員", ("opinion_monitors",)),
    ("monitor.deng", "鄧監測員", ("opinion_monitors",)),
    ("judge.fang", "方教授", ("star_judges",)),
    ("judge.shi", "石教授", ("star_judges",)),
    ("judge.yuan", "袁教授", ("star_judges",)),
)

_SURNAMES = (
    ("孫", "sun"), ("郭", "guo"), ("劉", "liu"), ("楊", "yang"), ("黃", "huang"),
    ("趙", "zhao"), ("朱", "zhu"), ("胡", "hu"), ("何", "he"), ("林", "lin"),
    ("羅", "luo"), ("鄭", "zheng"), ("梁", "liang"), ("謝", "xie"), ("宋", "song"),
    ("唐", "tang"), ("韓", "han"), ("曹", "cao"), ("彭", "peng"), ("曾", "zeng"),
)  # fmt: skip

# First halves of company names: (Chinese, English).
_STEMS = (
    ("像素", "Pixel"), ("星河", "Galaxy"), ("墨影", "Inkshade"), ("雲夢", "Cloud Dream"),
    ("鯨落", "Whalefall"), ("江城", "River City"), ("青鳥", "Bluebird"), ("琥珀", "Amber"),
    ("光年", "Lightyear"), ("長風", "Longwind"), ("楚韻", "Chu Rhythm"), ("知音", "Zhiyin"),
    ("黃鶴", "Yellow Crane"), ("晴川", "Clear River"), ("珞珈", "Luojia"), ("東湖", "East Lake"),
    ("極光", "Aurora"), ("飛帆", "Flying Sail"), ("靈犀", "Lingxi"), ("數智", "Numera"),
    ("螢火", "Firefly"), ("鏡像", "Mirror"), ("繁星", "Starfield"), ("潮汐", "Tide"),
)  # fmt: skip

# Second halves by sector: (Chinese, English, id word).
_TRADES = {
    "animation_games": (("動漫", "Animation", "anim"), ("遊戲", "Games", "games"),
                        ("互動娛樂", "Interactive", "play")),
    "online_audiovisual": (("影視", "Pictures", "pictures"), ("視聽", "Media", "media"),
                           ("直播科技", "Live", "live")),
    "digital_services": (("數字科技", "Digital", "digital"), ("雲服務", "Cloud Services", "cloud"),
                         ("信息技術", "Information Technology", "it")),
    "smart_manufacturing": (("智造", "Devices", "devices"), ("智能科技", "Smart Tech", "smart"),
                            ("顯示技術", "Display", "display")),
}  # fmt: skip


def generate_register(count: int = 40, seed: int = 2026) -> Register:
    """Return a register of ``count`` enterprises and everyone around them, the same for a seed."""
    most = len(_STEMS) * len(SECTORS) * 3
    if not 1 <= count <= most:
        raise ValueError(f"count must be between 1 and {most}")
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    people: list[Person] = []
    phones = iter(range(100, 100_000_000))

    def phone() -> str:
        return f"138{next(phones):08d}"

    for person_id, name, groups in _STAFF:
        people.append(_official(person_id, name, phone(), groups))

    districts: list[District] = []
    units: list[Unit] = []
    for index, (slug, zh, en, _) in enumerate(_DISTRICTS):
        surname, _ = _SURNAMES[(index + 8) % len(_SURNAMES)]
        contact = f"district.{slug}"
        people.append(_official(contact, f"{surname}主任", phone()))
        districts.append(District(f"d_{slug}", zh, en, {"members": (contact,)}))
        office = f"unit.{slug}"
        people.append(_official(office, f"{_SURNAMES[index][0]}主任", phone()))
        units.append(Unit(f"u_{slug}", f"{zh}政府辦", f"{en} Office", {"members": (office,)}))
    for unit_id, zh, en, contact, surname in _UNITS:
        people.append(_official(contact, f"{surname}科長", phone()))
        units.append(Unit(unit_id, zh, en, {"members": (contact,)}))

    commissioners: list[str] = []
    for surname, pinyin in _SURNAMES[: max(2, count // 6)]:
        person_id = f"comm.{pinyin}"
        people.append(_official(person_id, f"{surname}專員", phone()))
        commissioners.append(person_id)

    enterprises: list[Enterprise] = []
    names = [
        (stem, trade, sector) for sector in SECTORS for stem in _STEMS for trade in _TRADES[sector]
    ]
    rng.shuffle(names)
    codes: set[str] = set()
    order = list(range(len(_DISTRICTS)))
    rng.shuffle(order)
    for index in range(count):
        # Sectors in turn, so each is present; districts covered before any repeats.
        sector = SECTORS[index % len(SECTORS)]
        stem, trade = next((s, t) for s, t, k in names if k == sector)
        names.remove((stem, trade, sector))
        slug, _, _, division = _DISTRICTS[
            order[index] if index < len(order) else rng.randrange(len(_DISTRICTS))
        ]
        word = stem[1].lower().replace(" ", "")
        enterprise_id = f"e_{word}_{trade[2]}"
        code = ""
        while not code or code in codes:
            organisation = "MA4K" + "".join(rng.choice(ALPHABET) for _ in range(4))
            code = make_credit_code("9", "1", division, organisation)
        codes.add(code)
        surname, pinyin = _SURNAMES[rng.randrange(len(_SURNAMES))]
        contact = f"ent.{word}_{trade[2]}"
        english = rng.random() < 0.125
        people.append(
            Person(
                id=contact,
                name=f"{pinyin.title()} Wei" if english else f"{surname}經理",
                locale="en" if english else "zh",
                addresses={"email": f"{pinyin}@{word}-{trade[2]}.example.com"},
            )
        )
        assigned = [commissioners[index % len(commissioners)]]
        if rng.random() < 0.2:
            assigned.append(commissioners[(index + 1) % len(commissioners)])
        enterprises.append(
            Enterprise(
                id=enterprise_id,
                name_zh=f"武漢{stem[0]}{trade[0]}有限公司",
                name_en=f"Wuhan {stem[1]} {trade[1]} Co., Ltd.",
                credit_code=code,
                sector=sector,
                district=f"d_{slug}",
                links={"members": (contact,), "commissioners": tuple(assigned)},
            )
        )
    return Register(tuple(districts), tuple(units), tuple(enterprises), tuple(people))


def _official(person_id: str, name: str, mobile: str, groups: tuple[str, ...] = ()) -> Person:
    domain = person_id.split(".", maxsplit=1)[0]
    return Person(
        id=person_id,
        name=name,
        locale="zh",
        addresses={
            "email": f"{person_id.replace('.', '_')}@{domain}.example.gov.cn",
            "office_robot": mobile,
        },
        groups=groups,
    )
