#!/usr/bin/env python3
"""Generates fixtures/demo.json: a realistic, deterministic demo data set for neiqin.

    python3 scripts/gen-fixtures.py > fixtures/demo.json

The data imitates four months (Aug-Nov 2026) of a furniture manufacturer's sales back office:
about 30 specialty stores, dealers, one direct store and project customers across five regions,
about 60 products, and about 300 orders with their whole recorded history (核单, 下单, 跟单,
出货单, 财务放行, 发货, 回款, 开票, 退换修, 归档). See fixtures/README.md for the format.

Only the Python standard library is used. Output depends on SEED alone: running the script twice
gives byte-identical files. Every rule the tests rely on is asserted in validate() before anything
is printed, so a change here that breaks a rule fails loudly instead of producing bad fixtures.
"""

import json
import random
import sys
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

SEED = 20260801
rng = random.Random(SEED)

TZ = timezone(timedelta(hours=8))
FIRST_DAY = date(2026, 8, 1)
LAST_DAY = date(2026, 11, 30)
# The moment the data set is "taken": nothing is recorded after it, so late orders stay open.
NOW = datetime(2026, 11, 30, 17, 0, tzinfo=TZ)
N_ORDERS = 300
MAX_BYTES = 1_500_000

# Office closed on Sundays, on 中秋 (2026-09-25) and during the 国庆 week.
HOLIDAYS = {date(2026, 9, 25)} | {date(2026, 10, d) for d in range(1, 8)}
# Working hours from the company's own rules: 7:30-11:30 and 13:00-17:00.
WINDOWS = [(time(7, 30), time(11, 30)), (time(13, 0), time(17, 0))]

CENT = Decimal("0.01")
DEPOSIT_RATE = Decimal("0.30")
VAT = "0.13"


def q2(x):
    """Rounds to the cent, half-up (四舍五入): the company's rule for every line."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(quantity, unit_price):
    return q2(Decimal(quantity) * Decimal(unit_price))


def money(x):
    return str(q2(x))


# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

CLERKS = {"East": "李娜", "South": "李娜", "Central": "李娜", "North": "周婷", "South-West": "周婷"}
SUPERVISOR = "赵主管"
VP = "孙副总"
FINANCE = ["陈会计", "吴出纳"]  # 陈会计 releases and invoices; both record payments
WAREHOUSE = ["刘仓管", "刘仓管", "刘仓管", "马仓管"]
# Owner salesperson per (region, province group)
SALES = {
    "East-1": "王磊",  # 上海 浙江 江苏
    "East-2": "吴涛",  # 安徽 山东 福建
    "South": "黄志强",
    "North": "刘洋",
    "South-West": "杨帆",
    "Central": "何丽",
}
STAFF = set(CLERKS.values()) | {SUPERVISOR, VP} | set(FINANCE) | set(WAREHOUSE) | set(SALES.values())

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁"
    "沈任姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红斌宇浩凯俊帆晨欣怡婷雪琳晓燕"
    "志峰海波瑞丹鑫颖佳慧倩梅莉萌彬亮林荣新文春晖"
)
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139",
                   "150", "151", "152", "155", "156", "157", "158", "159",
                   "180", "181", "182", "183", "185", "186", "187", "188", "189"]

used_names = set(STAFF)
used_mobiles = set()
used_qq = set()


def person_name():
    while True:
        n = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
        if n not in used_names:
            used_names.add(n)
            return n


def mobile():
    while True:
        m = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
        if m not in used_mobiles:
            used_mobiles.add(m)
            return m


def landline(area):
    return f"{area}-{rng.choice('2345678')}" + "".join(rng.choice("0123456789") for _ in range(7))


def qq():
    while True:
        v = str(rng.choice([rng.randint(100000, 99999999), rng.randint(100000000, 3299999999)]))
        if v not in used_qq:
            used_qq.add(v)
            return v


# --------------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码, GB 32100-2015) with valid check characters
# --------------------------------------------------------------------------------------------

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
used_tax_ids = set()


def _org_value(c):
    return int(c) if c.isdigit() else ord(c) - 55


def uscc_valid(code):
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return False
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS))
    return USCC_CHARS[(31 - s % 31) % 31] == code[17]


def tax_id(division, individual=False):
    """A syntactically valid code: 91 enterprise or 92 个体工商户, division, org code, check."""
    while True:
        if rng.random() < 0.6:
            body = "MA" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY" if i < 2 else "0123456789")
                                  for i in range(6))
        else:
            body = "".join(rng.choice("0123456789") for _ in range(8))
        c9 = 11 - sum(_org_value(c) * w for c, w in zip(body, ORG_WEIGHTS)) % 11
        body += {10: "X", 11: "0"}.get(c9, str(c9))
        head = ("92" if individual else "91") + division + body
        s = sum(USCC_CHARS.index(c) * w for c, w in zip(head, USCC_WEIGHTS))
        code = head + USCC_CHARS[(31 - s % 31) % 31]
        if code not in used_tax_ids:
            used_tax_ids.add(code)
            return code


# --------------------------------------------------------------------------------------------
# Products: sku, name, spec, unit, unit price, 包装件数, lead time in days
# --------------------------------------------------------------------------------------------

PRODUCTS = [
    # 沙发
    ("SF-2101", "单人位沙发", "980x950x850mm", "件", "2380.00", 1, 15),
    ("SF-2105", "双人位沙发", "1700x950x850mm", "套", "3680.00", 2, 15),
    ("SF-2108", "三人位沙发", "2200x950x850mm", "套", "4580.00", 3, 15),
    ("SF-2112", "转角沙发(1+3+贵妃)", "3200x1750x850mm", "组", "8960.00", 5, 20),
    ("SF-2116", "贵妃位沙发", "1600x1000x820mm", "件", "3150.00", 2, 15),
    ("SF-2203", "头层牛皮三人位沙发", "2300x980x880mm", "套", "9880.00", 3, 25),
    ("SF-2206", "电动功能沙发(三人位)", "2350x1000x1020mm", "套", "12800.00", 3, 30),
    ("SF-2301", "布艺模块沙发", "2880x1020x780mm", "组", "7466.6667", 4, 20),
    ("SF-2305", "沙发脚踏", "800x600x420mm", "件", "780.00", 1, 10),
    ("SF-2310", "休闲单椅", "760x820x780mm", "件", "1866.6667", 1, 12),
    # 床 / 床垫 / 床头柜
    ("CW-3101", "实木双人床", "1800x2000mm", "张", "5680.00", 3, 20),
    ("CW-3102", "实木双人床", "1500x2000mm", "张", "4980.00", 3, 20),
    ("CW-3205", "软包双人床", "1800x2000mm", "张", "4280.00", 3, 18),
    ("CW-3206", "软包双人床", "1500x2000mm", "张", "3880.00", 3, 18),
    ("CW-3210", "高箱储物床", "1800x2000mm", "张", "5260.00", 4, 20),
    ("CW-3301", "儿童床", "1200x2000mm", "张", "2680.00", 2, 15),
    ("CW-3305", "上下铺", "1200x2000mm", "张", "3580.00", 4, 20),
    ("CW-3402", "真皮软床", "1800x2000mm", "张", "7980.00", 3, 25),
    ("CD-3501", "乳胶床垫", "1800x2000x250mm", "张", "3280.00", 1, 7),
    ("CD-3502", "独立袋装弹簧床垫", "1500x2000x220mm", "张", "2180.00", 1, 7),
    ("CTG-3601", "床头柜", "500x400x550mm", "件", "1280.00", 1, 12),
    ("CTG-3602", "两抽床头柜", "480x400x500mm", "件", "866.6667", 1, 12),
    # 衣柜
    ("YG-4101", "四门衣柜", "2000x600x2200mm", "组", "8680.00", 6, 25),
    ("YG-4102", "两门衣柜", "1000x600x2200mm", "组", "4380.00", 3, 25),
    ("YG-4105", "三门衣柜", "1500x600x2200mm", "组", "6280.00", 5, 25),
    ("YG-4205", "推拉门衣柜", "2400x650x2400mm", "组", "11260.00", 8, 30),
    ("YG-4208", "衣柜顶柜", "2000x600x400mm", "件", "1520.00", 2, 20),
    ("YG-4301", "转角衣柜", "1200x1200x2200mm", "组", "7350.00", 6, 30),
    ("YG-4305", "儿童衣柜", "1200x550x2000mm", "组", "3880.00", 4, 20),
    ("YG-4401", "衣帽间组合", "3000x600x2400mm", "组", "18600.00", 12, 35),
    # 桌 / 几
    ("CZ-5101", "实木餐桌", "1600x900x760mm", "张", "4380.00", 2, 18),
    ("CZ-5102", "实木餐桌", "1400x850x760mm", "张", "3680.00", 2, 18),
    ("CZ-5108", "岩板餐桌", "1800x900x750mm", "张", "5980.00", 3, 20),
    ("CZ-5201", "圆餐桌(带转盘)", "Φ1350x760mm", "张", "4860.00", 3, 20),
    ("CJ-5301", "茶几", "1300x700x450mm", "张", "2280.00", 2, 15),
    ("CJ-5305", "岩板茶几", "1400x700x420mm", "张", "3180.00", 2, 18),
    ("BJ-5310", "边几", "Φ500x550mm", "件", "312.1250", 1, 10),
    ("SZ-5401", "书桌", "1400x700x760mm", "张", "2580.00", 2, 15),
    ("SZ-5405", "儿童升降学习桌", "1200x650x520-760mm", "张", "2133.3333", 2, 15),
    ("SZ-5410", "办公桌", "1600x800x750mm", "张", "3360.00", 2, 15),
    ("HY-5501", "会议桌", "3600x1400x750mm", "张", "9800.00", 4, 25),
    # 椅 / 凳
    ("CY-6601", "实木餐椅", "460x520x900mm", "张", "980.00", 1, 12),
    ("CY-6603", "软包实木餐椅", "480x540x920mm", "张", "1333.33", 1, 12),
    ("CY-6605", "岩板餐椅", "450x530x860mm", "张", "736.1250", 1, 12),
    ("XY-6701", "休闲椅", "700x760x820mm", "件", "1680.00", 1, 12),
    ("XY-6705", "摇椅", "650x900x1000mm", "件", "2380.00", 1, 15),
    ("SY-6801", "书椅", "520x560x960mm", "张", "1289.3350", 1, 10),
    ("BGY-6805", "办公椅", "620x620x1150mm", "张", "860.00", 1, 10),
    ("BD-6901", "床尾凳", "1400x450x450mm", "件", "1160.00", 1, 12),
    ("HZ-6905", "换鞋凳", "1000x380x450mm", "件", "580.00", 1, 10),
    # 柜
    ("DSG-7101", "电视柜", "2000x400x500mm", "件", "2980.00", 2, 18),
    ("DSG-7102", "电视柜", "2400x400x480mm", "件", "3460.00", 2, 18),
    ("CBG-7201", "餐边柜", "1400x450x850mm", "件", "3860.00", 2, 20),
    ("CBG-7205", "高餐边柜", "1200x400x2000mm", "件", "5260.00", 3, 25),
    ("XG-7301", "鞋柜", "1000x350x1100mm", "件", "1980.00", 2, 15),
    ("XG-7305", "玄关柜", "1200x380x2200mm", "件", "3580.00", 3, 20),
    ("DG-7401", "五斗柜", "800x450x1200mm", "件", "2360.00", 2, 18),
    ("SG-7501", "三门书柜", "1200x350x2000mm", "组", "4160.00", 3, 20),
    ("SG-7505", "书柜组合", "2400x380x2200mm", "组", "8760.00", 6, 25),
    ("JG-7601", "酒柜", "1200x400x1900mm", "件", "4580.00", 3, 22),
    ("ZTG-7701", "梳妆台(含镜)", "1000x450x1450mm", "套", "2680.00", 2, 15),
    ("CWG-7802", "储物柜", "900x400x1800mm", "件", "1666.6667", 2, 18),
    # 套餐
    ("TC-8101", "卧室四件套(床+床头柜x2+衣柜)", "1800x2000mm 配四门衣柜", "组", "16800.00", 10, 30),
    ("TC-8105", "餐厅套餐(餐桌+餐椅x4)", "1600x900mm 配4椅", "组", "7580.00", 5, 20),
    ("TC-8108", "客厅套餐(沙发+茶几+电视柜)", "三人位+1300茶几+2000电视柜", "组", "13880.00", 8, 25),
]
PRODUCT = {p[0]: p for p in PRODUCTS}

FINISHES = {
    "SF": ["灰色科技布", "米白色棉麻", "深蓝色绒布", "浅咖色科技布", "燕麦色雪尼尔"],
    "SF-2203": ["头层黄牛皮 焦糖色", "头层黄牛皮 象牙白", "头层黄牛皮 深灰"],
    "SF-2206": ["头层牛皮 深灰", "科技布 浅灰"],
    "CW": ["胡桃木色", "白蜡木原木色", "黑胡桃色", "象牙白"],
    "CW-32": ["浅灰色科技布软包", "奶咖色绒布软包", "米白色皮革软包"],
    "CD": ["中等软硬", "偏硬", "偏软"],
    "YG": ["暖白色 E0级板材", "胡桃木纹", "浅灰色", "原木色"],
    "CZ": ["北美黑胡桃", "橡木原木色", "亮光白岩板", "哑光灰岩板"],
    "CJ": ["胡桃色", "原木色", "鱼肚白岩板"],
    "CY": ["原木色 灰色坐垫", "胡桃色 皮坐垫", "黑色 绒布坐垫"],
    "*": ["胡桃木色", "原木色", "象牙白", "黑胡桃色"],
}
CUSTOM = ["", "", "", "", "", " 加高10cm", " 左向", " 右向", " 五金升级", " 按图定制"]


def finish_for(sku):
    for key in (sku, sku[:5], sku.split("-")[0]):
        if key in FINISHES:
            return rng.choice(FINISHES[key])
    return rng.choice(FINISHES["*"])


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------

# code prefix, city, province, region, kind, channel, district, market (or project site),
# street, area code, division code (行政区划代码), carrier, owner salesperson key
CUSTOMER_TABLE = [
    ("SH", "上海", "上海", "East", "store", "专卖店", "普陀区", "红星美凯龙真北店", "真北路1108号", "021", "310107", "佳吉快运", "East-1"),
    ("SH", "上海", "上海", "East", "store", "专卖店", "浦东新区", "居然之家金桥店", "张杨路3611号", "021", "310115", "佳吉快运", "East-1"),
    ("HZ", "杭州", "浙江", "East", "store", "专卖店", "西湖区", "居然之家古墩路店", "古墩路701号", "0571", "330106", "德邦物流", "East-1"),
    ("NB", "宁波", "浙江", "East", "dealer", "经销商", "鄞州区", "红星美凯龙鄞州店", "天童南路588号", "0574", "330212", "德邦物流", "East-1"),
    ("NJ", "南京", "江苏", "East", "store", "专卖店", "秦淮区", "金盛国际家居卡子门店", "卡子门大街29号", "025", "320104", "天地华宇", "East-1"),
    ("SUZ", "苏州", "江苏", "East", "store", "专卖店", "吴中区", "月星家居吴中店", "东吴北路299号", "0512", "320506", "天地华宇", "East-1"),
    ("HF", "合肥", "安徽", "East", "dealer", "经销商", "包河区", "红星美凯龙包河店", "包河大道236号", "0551", "340111", "安能物流", "East-2"),
    ("JN", "济南", "山东", "East", "store", "专卖店", "历下区", "居然之家泉城路店", "经十路11111号", "0531", "370102", "德邦物流", "East-2"),
    ("QD", "青岛", "山东", "East", "dealer", "经销商", "李沧区", "红星美凯龙李沧店", "九水东路130号", "0532", "370213", "中通快运", "East-2"),
    ("FZ", "福州", "福建", "East", "store", "专卖店", "仓山区", "红星美凯龙仓山店", "南江滨西大道188号", "0591", "350104", "佳吉快运", "East-2"),
    ("GZ", "广州", "广东", "South", "store", "专卖店", "天河区", "红星美凯龙天河店", "黄埔大道中256号", "020", "440106", "公司专车", "South"),
    ("GZ", "广州", "广东", "South", "direct", "直营", "海珠区", "居然之家海珠店", "新港东路1068号", "020", "440105", "公司专车", "South"),
    ("SZ", "深圳", "广东", "South", "store", "专卖店", "南山区", "红星美凯龙南山店", "沙河西路3009号", "0755", "440305", "公司专车", "South"),
    ("DG", "东莞", "广东", "South", "dealer", "经销商", "厚街镇", "名家居世博广场", "厚街大道东1号", "0769", "441900", "公司专车", "South"),
    ("NN", "南宁", "广西", "South", "store", "专卖店", "青秀区", "红星美凯龙青秀店", "民族大道136号", "0771", "450103", "德邦物流", "South"),
    ("BJ", "北京", "北京", "North", "store", "专卖店", "朝阳区", "居然之家北四环店", "北四环东路65号", "010", "110105", "佳吉快运", "North"),
    ("BJ", "北京", "北京", "North", "project", "工程", "海淀区", "悦华酒店公寓项目部", "西三环北路87号", "010", "110108", "佳吉快运", "North"),
    ("TJ", "天津", "天津", "North", "store", "专卖店", "河西区", "红星美凯龙河西店", "友谊南路15号", "022", "120103", "天地华宇", "North"),
    ("SJZ", "石家庄", "河北", "North", "dealer", "经销商", "桥西区", "怀特家居中心", "中华南大街256号", "0311", "130104", "安能物流", "North"),
    ("TY", "太原", "山西", "North", "dealer", "经销商", "小店区", "居然之家长风店", "长风街128号", "0351", "140105", "安能物流", "North"),
    ("CD", "成都", "四川", "South-West", "store", "专卖店", "金牛区", "富森美家居北门店", "金府路1号", "028", "510106", "中通快运", "South-West"),
    ("CD", "成都", "四川", "South-West", "project", "工程", "武侯区", "锦江湾精装公寓项目部", "天府大道北段966号", "028", "510107", "中通快运", "South-West"),
    ("CQ", "重庆", "重庆", "South-West", "store", "专卖店", "江北区", "红星美凯龙江北店", "北城天街56号", "023", "500105", "德邦物流", "South-West"),
    ("CQ", "重庆", "重庆", "South-West", "dealer", "经销商", "渝北区", "居然之家渝北店", "新牌坊二路158号", "023", "500112", "德邦物流", "South-West"),
    ("KM", "昆明", "云南", "South-West", "store", "专卖店", "官渡区", "红星美凯龙官渡店", "广福路688号", "0871", "530111", "安能物流", "South-West"),
    ("GY", "贵阳", "贵州", "South-West", "dealer", "经销商", "观山湖区", "居然之家观山湖店", "长岭北路201号", "0851", "520115", "安能物流", "South-West"),
    ("WH", "武汉", "湖北", "Central", "store", "专卖店", "武昌区", "欧亚达家居徐东店", "徐东大街18号", "027", "420106", "佳吉快运", "Central"),
    ("WH", "武汉", "湖北", "Central", "project", "工程", "江汉区", "汉口滨江人才公寓项目部", "沿江大道238号", "027", "420103", "佳吉快运", "Central"),
    ("CS", "长沙", "湖南", "Central", "store", "专卖店", "开福区", "红星美凯龙开福店", "芙蓉中路一段478号", "0731", "430105", "天地华宇", "Central"),
    ("ZZ", "郑州", "河南", "Central", "dealer", "经销商", "金水区", "居然之家金水店", "花园路136号", "0371", "410105", "中通快运", "Central"),
    ("NC", "南昌", "江西", "Central", "store", "专卖店", "青山湖区", "红星美凯龙青山湖店", "北京东路1088号", "0791", "360111", "天地华宇", "Central"),
]
FROZEN = "TY"  # the 太原 dealer is frozen from mid-October for overdue balances
# Stores that belong to a dealer (经销商 → 专卖店): store ref -> dealer ref.
DEALER_OF = {"C003": "C004", "C008": "C009", "C013": "C014", "C023": "C024", "C027": "C030"}
FROZEN_FROM = date(2026, 10, 12)

TRADE_NAMES = ["美居", "鸿森", "雅舍", "恒润", "佳禾", "木语", "锦程", "华庭", "逸家", "尚品", "德润",
               "嘉和", "宏达", "优品", "欧雅", "御家", "盛世", "新意", "安居", "乐家", "百合", "栖居",
               "典雅", "天成", "瑞丰", "博雅", "明远", "福满", "鑫源", "嘉禾", "润丰", "居品", "森阁",
               "云栖", "和美", "匠心"]
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "交通银行", "招商银行", "兴业银行",
         "浦发银行"]
CARRIER_PREFIX = {"佳吉快运": "JJ", "德邦物流": "DPK", "天地华宇": "HY", "安能物流": "AN", "中通快运": "ZTK",
                  "公司专车": "PS"}
CONTACT_ROLES = ["店长", "导购", "财务", "收货", "采购"]


def bank_account(bank):
    n = {"中国建设银行": 20, "中国农业银行": 19, "中国工商银行": 19}.get(bank, 16)
    return rng.choice("3456") + "".join(rng.choice("0123456789") for _ in range(n - 1))


def make_customers():
    trade = TRADE_NAMES[:]
    rng.shuffle(trade)
    customers = []
    depots_by_city = {}
    seq_by_code = {}
    for i, row in enumerate(CUSTOMER_TABLE):
        (pre, city, prov, region, kind, channel, district, market, street, area, division,
         carrier, owner_key) = row
        seq_by_code[pre] = seq_by_code.get(pre, 0) + 1
        code = f"{pre}-{seq_by_code[pre]:03d}"
        brand = trade.pop()
        city_full = city if prov in ("上海", "北京", "天津", "重庆") else city + "市"
        prov_full = prov + "市" if prov in ("上海", "北京", "天津", "重庆") else (
            "广西壮族自治区" if prov == "广西" else prov + "省")
        individual = kind == "store" and rng.random() < 0.2
        if kind == "project":
            title = f"{city}{brand}装饰工程有限公司"
            name = f"{city}{market.replace('项目部', '项目')}"
        elif individual:
            title = f"{city}市{district}{brand}家具店"
            name = f"{city}{market}"
        else:
            title = f"{city}{brand}{rng.choice(['家居有限公司', '家具有限公司', '家居用品有限公司', '商贸有限公司'])}"
            if kind == "dealer":
                name = f"{city}{brand}家居"
            elif kind == "direct":
                name = f"{city}直营店({market})"
            else:
                name = f"{city}{market}"
        tid = tax_id(division, individual)
        bank = rng.choice(BANKS)
        profiles = [{"title": title, "tax_id": tid,
                     "bank": f"{bank}{city}{short_district(district)}支行 {bank_account(bank)}"}]
        if kind == "dealer" and rng.random() < 0.5:
            # Some dealers invoice through a second, sister company.
            brand2 = trade.pop()
            bank2 = rng.choice(BANKS)
            profiles.append({"title": f"{city}{brand2}贸易有限公司", "tax_id": tax_id(division),
                             "bank": f"{bank2}{city}分行营业部 {bank_account(bank2)}"})

        contacts = []
        n_contacts = 1 + (rng.random() < 0.7) + (rng.random() < 0.35)
        first_role = {"store": rng.choice(["店长", "老板"]), "dealer": "老板", "direct": "店长",
                      "project": "项目经理"}[kind]
        roles = [first_role] + rng.sample(CONTACT_ROLES if kind != "project" else ["采购", "库管", "财务"],
                                          n_contacts - 1)
        for role in roles:
            nm = person_name()
            mob = mobile()
            q = qq() if (kind != "project" or rng.random() < 0.5) else ""
            contacts.append({
                "name": nm, "role": role, "mobile": mob,
                "landline": landline(area) if role in ("店长", "老板", "财务", "项目经理") else "",
                "qq": q,
                "wechat": rng.choice([mob, f"wxid_{''.join(rng.choice('abcdefghijkmnpqrstuvwxyz0123456789') for _ in range(10))}", ""]),
                "fax": landline(area) if role in ("财务", "老板") and rng.random() < 0.3 else "",
                "email": f"{q}@qq.com" if q and rng.random() < 0.5 else "",
            })
        receiver = contacts[-1] if contacts[-1]["role"] in ("收货", "库管") else contacts[0]

        addresses = []
        if kind == "project":
            addresses.append({"market": market, "street": full_street(prov_full, city_full, district, street),
                              "floor": "B1", "unit": "货梯口卸货区", "receiver": receiver["name"],
                              "phone": receiver["mobile"]})
        else:
            floor = rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5])
            unit = f"{rng.choice('ABCD')}{floor}{rng.randint(0, 2)}{rng.randint(0, 9)}{rng.randint(1, 9)}"
            addresses.append({"market": market, "street": full_street(prov_full, city_full, district, street),
                              "floor": f"{floor}F", "unit": unit, "receiver": receiver["name"],
                              "phone": receiver["mobile"]})
            if kind == "dealer" or rng.random() < 0.3:
                addresses.append({"market": f"{name}仓库",
                                  "street": full_street(prov_full, city_full, district,
                                                        f"{rng.choice(['工业园', '物流园', '仓储中心'])}{rng.randint(2, 18)}栋"),
                                  "floor": "1F", "unit": f"{rng.randint(1, 12)}号库", "receiver": receiver["name"],
                                  "phone": receiver["mobile"]})

        if city not in depots_by_city:
            if carrier == "公司专车":
                depot = {"name": f"公司专车{city}线", "city": city, "phone": landline("0757"),
                         "address": "佛山市顺德区龙江镇家具工业园(厂内发车)", "payer": "company"}
            else:
                depot = {"name": f"{carrier}{city}{short_district(district)}部", "city": city,
                         "phone": landline(area),
                         "address": full_street(prov_full, city_full, district,
                                                f"{rng.choice(['物流园', '货运市场', '物流港'])}{rng.choice('ABCDE')}区{rng.randint(1, 60)}号"),
                         "payer": rng.choice(["customer", "customer", "customer", "company"])}
            depots_by_city[city] = depot
        depot = dict(depots_by_city[city])
        if kind == "project":
            depot["payer"] = "company"

        ref = f"C{i + 1:03d}"
        dealer_ref = {"dealer_ref": DEALER_OF[ref]} if ref in DEALER_OF else {}
        customers.append({
            "ref": ref, **dealer_ref, "code": code, "name": name, "kind": kind, "province": prov,
            "city": city, "region": region, "channel": channel, "owner": SALES[owner_key],
            "status": "frozen" if pre == FROZEN else "active", "tax_id": tid,
            "note": "2026-10起余款逾期, 暂停接单, 发货须经销售副总同意" if pre == FROZEN else "",
            "contacts": contacts, "addresses": addresses, "depots": [depot],
            "invoice_profiles": profiles,
        })
    return customers


def short_district(district):
    return district.replace("新区", "").rstrip("区镇")


def full_street(prov_full, city_full, district, street):
    if prov_full.rstrip("市") == city_full.rstrip("市"):
        return f"{city_full}市{district}{street}" if not city_full.endswith("市") else f"{city_full}{district}{street}"
    return f"{prov_full}{city_full}{district}{street}"


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------


def is_workday(d):
    return d.weekday() != 6 and d not in HOLIDAYS


def fit(t):
    """Moves t forward into the next working window (skipping lunch, evenings, Sundays, holidays)."""
    while True:
        d = t.date()
        if is_workday(d):
            for a, b in WINDOWS:
                start = datetime.combine(d, a, TZ)
                end = datetime.combine(d, b, TZ)
                if t < start:
                    return start + timedelta(minutes=rng.randint(0, 25))
                if t < end:
                    return t
        t = datetime.combine(d + timedelta(days=1), time(0, 0), TZ)


def later(t, lo, hi):
    return fit(t + timedelta(minutes=rng.randint(lo, hi)))


def on_day(prev, d):
    """A working moment on day d (or the next workday) strictly after prev."""
    a, b = rng.choice(WINDOWS)
    minutes = rng.randint(0, 239)
    cand = fit(datetime.combine(d, a, TZ) + timedelta(minutes=minutes))
    if cand <= prev:
        cand = later(prev, 5, 90)
    return cand


def add_workdays(d, n):
    step = timedelta(days=1 if n >= 0 else -1)
    n = abs(n)
    while n > 0:
        d += step
        if is_workday(d):
            n -= 1
    return d


def rfc3339(t):
    return t.isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------------------------

used_bank_refs = set()
cash_seq = {}


def bank_ref(method, d):
    ymd = d.strftime("%Y%m%d")
    while True:
        digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
        if method == "bank":
            ref = ymd + digits(12)
        elif method == "wechat":
            ref = "4200" + digits(6) + ymd + digits(10)
        elif method == "alipay":
            ref = ymd + "2200" + digits(16)
        else:
            cash_seq[ymd] = cash_seq.get(ymd, 0) + 1
            ref = f"XJ{ymd}-{cash_seq[ymd]:03d}"
        if ref not in used_bank_refs:
            used_bank_refs.add(ref)
            return ref


PROJECT_FLATS = ["万科城", "保利花园", "碧桂园凤凰城", "绿地国际花都", "中海锦苑", "龙湖春江郦城", "华润置地广场",
                 "融创壹号院", "招商雍景湾", "金地格林小镇", "旭辉城", "世茂云图"]
DELAY_REASONS = [
    ("面料", "面料到货延迟, 已同步专卖店"),
    ("五金", "五金配件缺货, 供应商下周到"),
    ("油漆", "油漆返工, 重新喷涂"),
    ("板材", "板材批次色差, 重新开料"),
    ("产能", "旺季排产紧张, 顺延"),
    ("皮料", "皮料到货延迟"),
    ("岩板", "岩板运输破损, 重新订货"),
]
# Workshop stages reported while following production (跟单), for upholstered and wooden goods.
PROGRESS_SOFT = ["已开料", "框架完成, 待软包", "软包完成, 待组装", "组装完成, 待包装", "包装完成, 待出货"]
PROGRESS_WOOD = ["已开料", "白坯完成, 待油漆", "油漆中", "油漆完成, 待包装", "包装完成, 待出货"]
ORDER_NOTES = ["", "", "", "", "", "送货前一天电话联系收货人", "样品款, 包装加固",
               "随货带画册20本及价格清单", "需提供质检报告", "周日不收货", "与上单合并发货"]
CANCEL_REASONS = [
    "终端客户退订, 定金不退",
    "客户改选其他款式, 原单作废另下新单",
    "门店撤场装修, 订单取消",
    "价格未谈妥, 客户取消",
    "客户资金问题, 取消订单",
]
# kind, reason (the store sends photos and a form), condition found on arrival, disposition,
# and the products the complaint can concern (empty: any).
RETURN_CASES = [
    ("repair", "运输途中磕碰, 扶手破损(附照片及报修表)", "扶手破损", "repair", ("SF",)),
    ("repair", "床头软包开线(附照片)", "床头软包开线", "repair", ("CW-32", "CW-34")),
    ("repair", "柜门变形关不严(附照片)", "柜门变形", "repair", ("YG", "SG", "JG", "XG", "CBG", "CWG")),
    ("repair", "桌面漆面起泡(附照片)", "漆面起泡", "repair", ("CZ-51", "CJ-5301", "SZ")),
    ("exchange", "颜色与样板不符, 要求换货(附照片)", "包装完好, 颜色偏深", "stock", ()),
    ("exchange", "尺寸下错, 1500床换1800床", "包装完好", "stock", ("CW-3102", "CW-3206")),
    ("exchange", "岩板台面崩角(附照片)", "台面崩角", "repair", ("CZ-5108", "CJ-5305")),
    ("return", "终端客户退货, 商品未拆封", "包装完好未拆封", "stock", ()),
    ("return", "重复下单, 多发一件", "包装完好", "stock", ()),
    ("return", "面料起球严重(附照片)", "面料轻微起球", "stock", ("SF",)),
]
returns_left = RETURN_CASES[:]


def pick_return_case(lines):
    """A return case that fits one of the order's lines (used once each while any fits)."""
    fitting = [(c, i) for c in returns_left for i, l in enumerate(lines)
               if not c[4] or l["sku"].startswith(c[4])]
    specific = [x for x in fitting if x[0][4]]
    if not fitting:  # every fitting case used once: generic ones may repeat
        fitting = [(c, i) for c in RETURN_CASES if not c[4] for i in range(len(lines))]
    case, i = rng.choice(specific or fitting)
    if case in returns_left:
        returns_left.remove(case)
    return case[0], case[1], case[2], case[3], i


class Order:
    def __init__(self, taken_at, customer):
        self.taken_at = taken_at
        self.customer = customer
        self.events = []
        self.t = taken_at

    def ev(self, t, kind, user, role, **fields):
        assert t > self.t, (kind, t, self.t)
        self.t = t
        e = {"kind": kind, "at": t, "user": user, "role": role}
        e.update(fields)
        self.events.append(e)
        return e


def choose_lines(customer):
    kind = customer["kind"]
    if kind == "project":
        pool = ["CW-3102", "CW-3206", "CW-3301", "CD-3502", "CTG-3601", "CTG-3602", "YG-4102", "YG-4105",
                "SZ-5401", "SZ-5410", "SY-6801", "BGY-6805", "HY-5501", "DSG-7101", "XG-7301", "CWG-7802",
                "CY-6601", "CZ-5102"]
        n = rng.randint(2, 5)
        skus = rng.sample(pool, n)
        qty = lambda sku: rng.choice([6, 8, 10, 12, 16, 20, 24, 30, 36])  # noqa: E731
    else:
        n = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 22, 12, 6])[0]
        skus = rng.sample([p[0] for p in PRODUCTS], n)
        big = kind == "dealer"

        def qty(sku):
            if sku.startswith(("CY", "SY", "BGY")):
                return rng.choice([2, 3, 4, 4, 6, 6, 8])
            if sku.startswith(("CTG", "BJ")):
                return rng.choice([1, 2, 2, 4])
            return rng.choice([1, 1, 1, 2, 2, 3] + ([4, 5, 6] if big else []))
    lines = []
    for sku in skus:
        p = PRODUCT[sku]
        price = Decimal(p[4])
        if kind == "dealer" and price == price.quantize(CENT) and sku != "CY-6603":
            price = q2(price * Decimal("0.92"))  # 经销商价
        elif kind == "project" and price == price.quantize(CENT) and sku != "CY-6603":
            price = (price * Decimal("0.85")).quantize(Decimal("1"), rounding=ROUND_HALF_UP).quantize(CENT)
        price_s = p[4] if price == Decimal(p[4]) else str(price)
        lines.append({"sku": sku, "spec": f"{p[2]} {finish_for(sku)}{rng.choice(CUSTOM)}",
                      "quantity": str(qty(sku)), "unit": p[3], "unit_price": price_s})
    return lines


def gross_of(lines):
    return sum((line_amount(l["quantity"], l["unit_price"]) for l in lines), Decimal(0))


def value_of_cum(lines, cum):
    """Value of cumulative quantities per line, priced and rounded per line like shipped value."""
    return sum((line_amount(cum[i], lines[i]["unit_price"]) for i in range(len(lines)) if cum[i]), Decimal(0))


def taken_moments():
    days = []
    d = FIRST_DAY
    while d <= LAST_DAY:
        if is_workday(d):
            # 金九银十: September and October are the busy season.
            w = {8: 0.8, 9: 1.3, 10: 1.25, 11: 1.0}[d.month] * (0.7 if d.weekday() == 5 else 1.0)
            days.append((d, w))
        d += timedelta(days=1)
    picks = rng.choices([d for d, _ in days], weights=[w for _, w in days], k=N_ORDERS)
    out = []
    for d in picks:
        a, b = rng.choice(WINDOWS)
        start = datetime.combine(d, a, TZ)
        span = 240 if a == time(7, 30) else 150  # afternoon orders before 15:30 leave time to verify
        out.append(start + timedelta(minutes=rng.randint(0, span), seconds=0))
    return sorted(out)


def make_orders(customers):
    weights = {"store": 10, "dealer": 12, "direct": 8, "project": 3}
    moments = taken_moments()
    orders = []
    forced_1333 = 0
    n_return = 0
    n_cancel = 0
    for idx, taken in enumerate(moments):
        pool = [c for c in customers
                if not (c["status"] == "frozen" and taken.date() >= FROZEN_FROM)]
        c = rng.choices(pool, weights=[weights[x["kind"]] for x in pool])[0]
        o = Order(taken, c)
        lines = choose_lines(c)
        # The rounding test case: three soft dining chairs at 1333.33 (3999.99, never 4000.00).
        if forced_1333 < 12 and c["kind"] != "project" and rng.random() < 0.12:
            p = PRODUCT["CY-6603"]
            lines = [l for l in lines if l["sku"] != "CY-6603"][:4]
            lines.append({"sku": "CY-6603", "spec": f"{p[2]} {finish_for('CY-6603')}", "quantity": "3",
                          "unit": p[3], "unit_price": "1333.33"})
            forced_1333 += 1
        gross = gross_of(lines)
        deposit = q2(gross * DEPOSIT_RATE)
        clerk = CLERKS[c["region"]]
        tax = c["kind"] == "project" or rng.random() < {"store": 0.4, "dealer": 0.6, "direct": 0.5}.get(c["kind"], 1)
        profile = rng.choice(c["invoice_profiles"]) if tax else None
        has_contract = c["kind"] in ("project", "dealer") or gross >= 15000 or rng.random() < 0.7
        lead = max(PRODUCT[l["sku"]][6] for l in lines)
        promised = add_workdays(taken.date(), lead + rng.randint(0, 4))
        if c["kind"] == "project":
            project = c["name"] + rng.choice(["一期", "二期", "样板间", "A栋", "B栋"])
        elif rng.random() < 0.25:
            project = rng.choice(["门店出样", "门店换样", "店面补货"])
        else:
            surname = rng.choice(SURNAMES)
            project = (f"{surname}{rng.choice(['先生', '女士'])} {rng.choice(PROJECT_FLATS)}"
                       f"{rng.randint(1, 28)}-{rng.randint(1, 3)}-{rng.randint(3, 32)}0{rng.randint(1, 4)}")
        depot = c["depots"][0]
        addr = rng.choice(c["addresses"])
        note = rng.choice(ORDER_NOTES)
        if depot["payer"] == "customer" and rng.random() < 0.5:
            ship_address = f"{depot['name']}({depot['address']}) 货运部自提"
            note = "货运部自提, 运费到付"
        else:
            ship_address = f"{addr['street']} {addr['market']}{addr['floor']} {addr['unit']}".strip()
        order = {
            "ref": None, "customer_ref": c["ref"], "project": project, "store": c["code"],
            "salesperson": c["owner"], "tax_included": bool(tax), "tax_rate": VAT if tax else "0",
            "invoice_title": profile["title"] if tax else "", "deposit": money(deposit),
            "contract": None if has_contract else "", "ship_address": ship_address,
            "receiver": addr["receiver"], "receiver_phone": addr["phone"],
            "promised_ship_date": promised.isoformat(), "note": note,
            "taken_at": taken, "taken_by": clerk, "lines": lines,
        }
        # What will happen to this order (the clock may stop it early, at NOW).
        fate = "normal"
        r = rng.random()
        if n_cancel < 9 and r < 0.035:
            fate = "cancel"
            n_cancel += 1
        elif r < 0.085:
            fate = "stuck"  # goods ready, balance never arrives
        elif n_return < 12 and taken.date() < date(2026, 10, 20) and r < 0.18:
            fate = "return"
            n_return += 1
        if c["status"] == "frozen" and taken.date() >= date(2026, 9, 20):
            fate = "stuck"
        simulate(o, order, gross, deposit, fate, lead, promised)
        # The data set stops at NOW: later steps have not happened yet. Events are in time order,
        # so what remains is a prefix of a valid history.
        order["events"] = [e for e in o.events if e["at"] <= NOW]
        order["_gross"] = gross
        orders.append(order)

    # Numbers given in time order, as an office would: contracts by order time, invoices and
    # return tags by the time they were issued.
    for i, order in enumerate(orders):
        order["ref"] = f"O{i + 1:04d}"
    n = 0
    for order in orders:
        if order["contract"] is None:
            n += 1
            order["contract"] = f"HT-2026-{n:04d}"
    invoices = sorted(((e["at"], i, j, e) for i, o in enumerate(orders) for j, e in enumerate(o["events"])
                       if e["kind"] == "invoice"), key=lambda x: x[:3])
    base = 4521000 + rng.randint(0, 300)
    for k, (_, _, _, e) in enumerate(invoices):
        e["number"] = f"{base + k:08d}"
    tags = sorted(((e["at"], i, j, e) for i, o in enumerate(orders) for j, e in enumerate(o["events"])
                   if e["kind"] == "return_receipt"), key=lambda x: x[:3])
    for k, (_, _, _, e) in enumerate(tags):
        e["tag"] = f"RT-2026-{k + 1:03d}"
    return orders


def pay(o, order, amount, not_before_day=None):
    c = o.customer
    t = o.t
    d = max(t.date(), not_before_day) if not_before_day else t.date()
    at = on_day(t, d)
    if amount >= 20000 or order["tax_included"]:
        method = "bank"
    else:
        method = rng.choices(["bank", "wechat", "alipay", "cash"], weights=[70, 18, 6, 6])[0]
    value_day = at.date()
    prev_work = value_day - timedelta(days=1)
    if method == "bank" and rng.random() < 0.3 and prev_work > t.date() and is_workday(prev_work):
        value_day = prev_work  # arrived yesterday afternoon, recorded this morning
    payer = order["invoice_title"] if order["tax_included"] else (
        c["invoice_profiles"][0]["title"] if method == "bank" and rng.random() < 0.5 else c["contacts"][0]["name"])
    o.ev(at, "payment", rng.choice(FINANCE), "finance", amount=money(amount), date=value_day.isoformat(),
         method=method, payer=payer, bank_ref=bank_ref(method, value_day))


def ship_lines(lines, cum_before, cum_after, with_price):
    out = []
    for i, l in enumerate(lines):
        q = cum_after[i] - cum_before[i]
        if q > 0:
            row = {"line": i, "quantity": str(q)}
            if with_price:
                row["unit_price"] = l["unit_price"]
            out.append(row)
    return out


def simulate(o, order, gross, deposit, fate, lead, promised):
    c = o.customer
    lines = order["lines"]
    clerk = order["taken_by"]
    qty = [int(l["quantity"]) for l in lines]
    n = len(lines)

    # 核单 and 下单 the same day (the company's rule), with the supervisor's approval (审核) in
    # between: 下单 needs it.
    t = o.t + timedelta(minutes=rng.randint(15, 70))
    o.ev(t, "verify", clerk, "clerk", parties=["salesperson", "customer", "workshop"])
    o.ev(o.t + timedelta(minutes=rng.randint(10, 35)), "approve", SUPERVISOR, "supervisor")
    o.ev(o.t + timedelta(minutes=rng.randint(10, 35)), "release_to_workshop", clerk, "clerk")

    if fate == "cancel" and rng.random() < 0.5:
        o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(1, 3))), "cancel", VP, "vp",
             reason=rng.choice(CANCEL_REASONS[1:]))
        return

    # 定金: usually the same day or within three days; a few customers pay everything at once.
    upfront = rng.random() < 0.06 and gross < 20000
    paid = Decimal(0)
    if upfront:
        pay(o, order, gross, add_workdays(o.t.date(), rng.randint(0, 2)))
        paid = gross
    elif rng.random() < 0.05 and deposit >= 2000:
        first = q2(deposit * Decimal("0.5"))
        pay(o, order, first, o.t.date())
        pay(o, order, deposit - first, add_workdays(o.t.date(), rng.randint(1, 3)))
        paid = deposit
    else:
        pay(o, order, deposit, add_workdays(o.t.date(), rng.choice([0, 0, 0, 1, 2, 3])))
        paid = deposit

    # 跟单: progress notes, sometimes a delay with a revised date.
    ready = promised
    start = o.t.date()
    steps = sorted(rng.sample(range(1, max(2, lead)), k=min(rng.randint(1, 3), max(1, lead - 1))))
    delayed = rng.random() < 0.22
    # A delay is reported early in production, never after the goods are packed.
    delay_at = rng.choice([s for s in steps if s <= 0.6 * lead] or steps[:1]) if delayed else None
    soft = any(l["sku"].startswith(("SF", "CW-32", "CW-34", "TC-8108")) for l in lines)
    stages = PROGRESS_SOFT if soft else PROGRESS_WOOD
    last_stage = -1
    for s in steps:
        d = add_workdays(start, s)
        if s == delay_at:
            reason, note = rng.choice(DELAY_REASONS)
            ready = add_workdays(promised, rng.randint(3, 12))
            o.ev(on_day(o.t, d), "progress", clerk, "clerk", note=note, revised_date=ready.isoformat(),
                 delay_reason=reason)
        else:
            stage = max(last_stage + 1, min(len(stages) - 1, int(s / lead * len(stages))))
            if stage >= len(stages):
                continue
            last_stage = stage
            o.ev(on_day(o.t, d), "progress", clerk, "clerk", note=stages[stage])
    ready = max(ready + timedelta(days=rng.randint(-2, 1)), add_workdays(o.t.date(), 1))

    if fate == "cancel":
        o.ev(on_day(o.t, min(ready, add_workdays(o.t.date(), rng.randint(1, 5)))), "cancel", VP, "vp",
             reason=CANCEL_REASONS[0] if rng.random() < 0.6 else rng.choice(CANCEL_REASONS))
        return

    # Shipment plan: one shipment, or two (part first, the rest later).
    partial = rng.random() < 0.18 and (n > 1 or qty[0] > 1)
    cum0 = [0] * n
    if partial:
        if n > 1:
            k = rng.randint(1, n - 1)
            first_lines = set(rng.sample(range(n), k))
            cum1 = [qty[i] if i in first_lines else 0 for i in range(n)]
        else:
            cum1 = [rng.randint(1, qty[0] - 1)]
        plan = [cum1, qty[:]]
    else:
        plan = [qty[:]]

    cum_prev = cum0
    ship_day = ready
    invoice_per_shipment = order["tax_included"] and partial and rng.random() < 0.35
    invoiced = Decimal(0)
    for k, cum in enumerate(plan):
        last = k == len(plan) - 1
        if k > 0:
            ship_day = add_workdays(ship_day, rng.randint(4, 15))
            o.ev(on_day(o.t, add_workdays(ship_day, -2)), "progress", clerk, "clerk",
                 note="余货生产完成, 安排第二批出货")
        elif partial:
            o.ev(on_day(o.t, add_workdays(ship_day, -1)), "progress", clerk, "clerk",
                 note="部分现货先发, 余货生产中, 已告知专卖店")
        # 出货单 agreed with warehouse and store, with ship date, route (运送途径) and who pays
        # freight (付费方式); now and then a corrected second version. Prices are the order's:
        # a price changes only by a change order.
        doc_lines = ship_lines(lines, cum_prev, cum, True)
        depot = c["depots"][0]
        doc = {"ship_date": ship_day.isoformat(), "route": depot["name"],
               "freight_payer": "到付" if depot["payer"] == "customer" else "寄付(公司承担)"}
        o.ev(on_day(o.t, ship_day), "shipping_doc", clerk, "clerk", lines=doc_lines, **doc)
        if rng.random() < 0.07:
            # The first version was short (a line or a piece); the store and warehouse agreed a
            # corrected one.
            first = [dict(x) for x in doc_lines]
            short = [x for x in first if int(x["quantity"]) >= 2]
            if short:
                short[0]["quantity"] = str(int(short[0]["quantity"]) - 1)
            elif len(first) > 1:
                first.pop()
            if first != doc_lines:
                o.events[-1]["lines"] = first
                o.ev(later(o.t, 20, 180), "shipping_doc", clerk, "clerk", lines=doc_lines, **doc)
        need = value_of_cum(lines, cum) if not last else gross
        if paid < need:
            if fate == "stuck":
                o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(5, 12))), "progress", clerk, "clerk",
                     note="成品已入库, 余款未到, 已电话催款")
                return
            pay(o, order, need - paid, add_workdays(o.t.date(), rng.choice([0, 1, 1, 2, 3, 5])))
            paid = need
        o.ev(later(o.t, 10, 150), "finance_release", FINANCE[0], "finance")
        qty_lines = ship_lines(lines, cum_prev, cum, False)
        cartons = sum(int(x["quantity"]) * PRODUCT[lines[x["line"]]["sku"]][5] for x in qty_lines)
        depot = c["depots"][0]
        carrier = depot["name"] if depot["name"].startswith("公司专车") else depot["name"][:4]
        prefix = CARRIER_PREFIX["公司专车" if carrier.startswith("公司专车") else carrier]
        t_ship = later(o.t, 30, 400)
        waybill = (f"{prefix}{t_ship.strftime('%y%m%d')}{rng.randint(100, 999)}" if prefix == "PS"
                   else prefix + "".join(rng.choice("0123456789") for _ in range(10 if prefix != "DPK" else 12)))
        o.ev(t_ship, "shipment", rng.choice(WAREHOUSE), "warehouse", lines=qty_lines,
             carrier=carrier, waybill=waybill, cartons=cartons)
        ship_day = t_ship.date()
        if invoice_per_shipment:
            amount = need - invoiced
            o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(1, 4))), "invoice", FINANCE[0], "finance",
                 number=None, title=order["invoice_title"], amount=money(amount))
            invoiced += amount
        cum_prev = cum

    if order["tax_included"] and not invoice_per_shipment:
        o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(1, 6))), "invoice", FINANCE[0], "finance",
             number=None, title=order["invoice_title"], amount=money(gross))
        invoiced = gross

    if fate == "return":
        kind, reason, condition, disposition, i = pick_return_case(lines)
        rq = str(rng.randint(1, min(qty[i], 2)))
        rl = [{"line": i, "quantity": rq}]
        o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(4, 20))), "return_request", clerk, "clerk",
             return_kind=kind, lines=rl, reason=reason)
        approved = not (kind == "return" and "起球" in reason)
        note = ("同意, 到厂后仓管与内勤清点" if approved else "轻微起球属正常现象, 不予退货, 可安排上门处理")
        o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(1, 3))), "return_decision", VP, "vp",
             approved=approved, note=note)
        if approved:
            o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(3, 10))), "return_receipt",
                 rng.choice(WAREHOUSE), "warehouse", lines=[dict(x) for x in rl], condition=condition,
                 disposition=disposition, tag=None)
        return

    # 归档 once shipped, paid and invoiced (only tax-included orders get invoices).
    if order["tax_included"] and paid == gross and invoiced == gross and rng.random() < 0.85:
        o.ev(on_day(o.t, add_workdays(o.t.date(), rng.randint(2, 12))), "archive", clerk, "clerk")


# --------------------------------------------------------------------------------------------
# Complaints (客诉)
# --------------------------------------------------------------------------------------------

# Generated after the orders, from the same random stream: the orders do not change.
CHANNELS = ["phone", "wechat", "visit"]
DELIVERY_HANDLING = "已与车间确认新交期, 电话告知门店并致歉"
SERVICE_CASES = [
    ("service", "送货师傅未按约定时间送货, 也未提前电话通知", "已与货运部沟通, 以后送货前一天电话确认",
     "satisfied"),
    ("service", "工作时间打内勤电话无人接听", "已调整值班安排, 内勤手机保持畅通", "fairly_satisfied"),
    ("other", "要求补寄产品保养说明书和合格证", "已随下批货寄出保养说明书及合格证", "satisfied"),
    ("service", "安装师傅上门迟到两小时", "已向门店致歉, 安装费减免", "fairly_satisfied"),
    ("other", "咨询旧款沙发能否更换新面料", None, None),
]


class Complaint:
    def __init__(self, taken_at):
        self.t = taken_at
        self.events = []

    def ev(self, t, kind, user, role, **fields):
        if t > NOW:
            return False
        assert t > self.t, (kind, t, self.t)
        self.t = t
        e = {"kind": kind, "at": t, "user": user, "role": role}
        e.update(fields)
        self.events.append(e)
        return True


def complaint_category(reason):
    if "尺寸下错" in reason or "颜色与样板不符" in reason:
        return "wrong_goods"
    if "终端客户退货" in reason or "重复下单" in reason:
        return "other"
    return "quality"


def make_complaints(customers, orders):
    by_ref = {c["ref"]: c for c in customers}
    out = []

    def complaint(c, o, category, content, taken, clerk):
        k = Complaint(taken)
        row = {"ref": None, "customer_ref": c["ref"], "order_ref": o["ref"] if o else "",
               "store": o["store"] if o else c["code"], "channel": rng.choices(CHANNELS, weights=[5, 4, 1])[0],
               "category": category, "content": content, "taken_at": taken, "taken_by": clerk}
        out.append((row, k))
        return k

    # Every return request began as a complaint from the store.
    for o in orders:
        evs = o["events"]
        rq = next((e for e in evs if e["kind"] == "return_request"), None)
        if rq is None:
            continue
        last_ship = max(e["at"] for e in evs if e["kind"] == "shipment" and e["at"] < rq["at"])
        taken = rq["at"] - timedelta(minutes=rng.randint(20, 90))
        if taken <= last_ship:
            taken = last_ship + (rq["at"] - last_ship) / 2
        taken = taken.replace(microsecond=0)
        clerk = rq["user"]
        reason = rq["reason"].split("(")[0]
        k = complaint(by_ref[o["customer_ref"]], o, complaint_category(rq["reason"]), reason, taken, clerk)
        to = "车间" if rq["return_kind"] == "repair" else "仓库"
        k.ev(taken + timedelta(minutes=5), "assign", clerk, "clerk", to=to, note="请门店提供照片及报修表")
        k.ev(rq["at"] + timedelta(minutes=2), "return_link", clerk, "clerk")
        decision = next(e for e in evs if e["kind"] == "return_decision")
        receipt = next((e for e in evs if e["kind"] == "return_receipt"), None)
        if receipt is not None:
            done = "已入库, 转维修车间" if receipt["disposition"] == "repair" else "已入库清点, 安排换货或退款"
            k.ev(receipt["at"] + timedelta(minutes=10), "handle", receipt["user"], "warehouse", note=done)
            k.ev(on_day(k.t, add_workdays(k.t.date(), rng.randint(2, 8))), "close", clerk, "clerk",
                 result="退换维修已办结, 门店确认", satisfaction=rng.choice(["satisfied", "fairly_satisfied"]))
        else:
            k.ev(decision["at"] + timedelta(minutes=30), "handle", clerk, "clerk",
                 note="销售副总未批准退货, 已向门店解释并安排上门处理")
            k.ev(on_day(k.t, add_workdays(k.t.date(), rng.randint(1, 3))), "close", clerk, "clerk",
                 result="上门处理, 门店勉强接受", satisfaction="dissatisfied")

    # Delivery complaints on orders whose date was revised (交期延误).
    revised = [(o, e) for o in orders for e in o["events"] if e["kind"] == "progress" and "revised_date" in e]
    for o, e in rng.sample(revised, 4):
        c = by_ref[o["customer_ref"]]
        taken = later(e["at"], 60, 1200).replace(microsecond=0)
        if taken > NOW:
            continue
        clerk = e["user"]
        k = complaint(c, o, "delivery", f"交期推迟到 {e['revised_date']}, 终端客户催货", taken, clerk)
        k.ev(later(k.t, 5, 40), "assign", clerk, "clerk", to="车间", note="")
        k.ev(later(k.t, 30, 240), "handle", clerk, "clerk", note=DELIVERY_HANDLING)
        shipped = [x["at"] for x in o["events"] if x["kind"] == "shipment" and x["at"] > k.t]
        if shipped:
            k.ev(later(shipped[0], 60, 600), "close", clerk, "clerk", result="货已发出, 门店确认收货",
                 satisfaction="fairly_satisfied")

    # Service and other complaints, without an order; one still open, acknowledged by the
    # supervisor once it had been open too long (上报主管).
    stores = [c for c in customers if c["kind"] in ("store", "dealer") and c["status"] == "active"]
    for category, content, result, satisfaction in SERVICE_CASES:
        c = rng.choice(stores)
        clerk = CLERKS[c["region"]]
        taken = on_day(datetime.combine(date(2026, 10, 8), time(0, 0), TZ),
                       add_workdays(date(2026, 10, 8), rng.randint(0, 38))).replace(microsecond=0)
        k = complaint(c, None, category, content, taken, clerk)
        k.ev(later(k.t, 5, 60), "assign", clerk, "clerk", to=clerk, note="")
        if result is None:
            k.ev(later(k.t, 30, 240), "handle", clerk, "clerk", note="已询问车间面料库存, 待回复")
            k.ev(on_day(k.t, add_workdays(k.t.date(), 8)), "acknowledge", SUPERVISOR, "supervisor",
                 note="请车间三天内回复")
            continue
        k.ev(later(k.t, 30, 600), "handle", clerk, "clerk", note=result)
        k.ev(on_day(k.t, add_workdays(k.t.date(), rng.randint(1, 4))), "close", clerk, "clerk",
             result=result, satisfaction=satisfaction)

    out.sort(key=lambda x: x[0]["taken_at"])
    complaints = []
    for i, (row, k) in enumerate(out):
        row["ref"] = f"K{i + 1:03d}"
        row["events"] = k.events
        complaints.append(row)
    return complaints


def validate_complaints(data):
    custs = {c["ref"]: c for c in data["customers"]}
    orders = {o["ref"]: o for o in data["orders"]}
    assert 15 <= len(data["complaints"]) <= 30
    for k in data["complaints"]:
        where = f"complaint {k['ref']}"
        assert k["customer_ref"] in custs, where
        assert k["channel"] in CHANNELS, where
        assert k["category"] in ("quality", "delivery", "service", "wrong_goods", "other"), where
        assert k["content"] and k["store"], where
        o = orders.get(k["order_ref"]) if k["order_ref"] else None
        if k["order_ref"]:
            assert o is not None and o["customer_ref"] == k["customer_ref"], where
        t = parse_at(k["taken_at"])
        assert t <= NOW
        assigned = handled = closed = False
        for e in k["events"]:
            at = parse_at(e["at"])
            assert t < at <= NOW, where
            t = at
            kind = e["kind"]
            assert e["role"] == {"acknowledge": "supervisor"}.get(kind, e["role"]), where
            if kind == "assign":
                assert e["to"] and not closed, where
                assigned = True
            elif kind == "handle":
                assert assigned and e["note"] and not closed, where
                handled = True
            elif kind == "close":
                assert handled and e["result"] and not closed, where
                assert e["satisfaction"] in ("satisfied", "fairly_satisfied", "dissatisfied"), where
                closed = True
            elif kind == "return_link":
                assert o is not None and any(x["kind"] == "return_request" and parse_at(x["at"]) < at
                                             for x in o["events"]), where
            elif kind == "acknowledge":
                assert not closed, where
            else:
                raise AssertionError((where, kind))


# --------------------------------------------------------------------------------------------
# Validation: the rules tests rely on
# --------------------------------------------------------------------------------------------


def is_decimal_string(s, max_places):
    if not isinstance(s, str) or not s or s.startswith("+"):
        return False
    try:
        d = Decimal(s)
    except Exception:
        return False
    if not d.is_finite():
        return False
    places = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
    return places <= max_places


def walk_no_floats(x, path="$"):
    if isinstance(x, float):
        raise AssertionError(f"float at {path}")
    if isinstance(x, dict):
        for k, v in x.items():
            walk_no_floats(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            walk_no_floats(v, f"{path}[{i}]")


def parse_at(s):
    t = datetime.fromisoformat(s)
    assert s.endswith("+08:00") and len(s) == 25, s
    return t


def validate(data):
    walk_no_floats(data)
    skus = {p["sku"]: p for p in data["products"]}
    assert 55 <= len(skus) == len(data["products"]) <= 70
    for p in data["products"]:
        assert is_decimal_string(p["unit_price"], 4), p
        assert p["unit"] in ("套", "张", "件", "组"), p
        assert isinstance(p["packing_count"], int) and p["packing_count"] >= 1
        assert isinstance(p["lead_days"], int) and p["lead_days"] >= 1
    assert any(len(p["unit_price"].split(".")[1]) == 4 for p in data["products"])

    custs = {c["ref"]: c for c in data["customers"]}
    assert 28 <= len(custs) == len(data["customers"]) <= 35
    assert {c["region"] for c in data["customers"]} == {"East", "South", "North", "South-West", "Central"}
    mobiles, codes, tax_ids, names = set(), set(), set(), set()
    for c in data["customers"]:
        assert c["kind"] in ("store", "dealer", "direct", "project")
        assert c["status"] in ("active", "frozen")
        assert c["code"] not in codes and c["name"] not in names
        codes.add(c["code"])
        names.add(c["name"])
        assert uscc_valid(c["tax_id"]), c["tax_id"]
        assert c["tax_id"] not in tax_ids
        tax_ids.add(c["tax_id"])
        assert 1 <= len(c["contacts"]) <= 3
        for k in c["contacts"]:
            m = k["mobile"]
            assert len(m) == 11 and m.isdigit() and m[:2] in ("13", "15", "18"), m
            assert m not in mobiles
            mobiles.add(m)
            assert k["qq"] == "" or (k["qq"].isdigit() and 5 <= len(k["qq"]) <= 10 and k["qq"][0] != "0")
        assert c["addresses"] and all(a["floor"] for a in c["addresses"])
        assert len(c["depots"]) == 1 and c["depots"][0]["payer"] in ("customer", "company")
        for p in c["invoice_profiles"]:
            assert uscc_valid(p["tax_id"]) and p["title"] and p["bank"]
        assert c["invoice_profiles"][0]["tax_id"] == c["tax_id"]

    refs = set()
    bank_refs = set()
    invoice_numbers = set()
    n_1333 = 0
    for o in data["orders"]:
        where = o["ref"]
        assert o["ref"] not in refs
        refs.add(o["ref"])
        c = custs[o["customer_ref"]]
        assert o["store"] == c["code"] and o["salesperson"] == c["owner"]
        lines = o["lines"]
        assert 1 <= len(lines) <= 5, where
        gross = Decimal(0)
        for l in lines:
            assert l["sku"] in skus and l["unit"] == skus[l["sku"]]["unit"], where
            assert is_decimal_string(l["quantity"], 3) and Decimal(l["quantity"]) > 0
            assert is_decimal_string(l["unit_price"], 4)
            gross += line_amount(l["quantity"], l["unit_price"])
            if l["quantity"] == "3" and l["unit_price"] == "1333.33":
                n_1333 += 1
        assert is_decimal_string(o["deposit"], 2)
        assert Decimal(o["deposit"]) == q2(gross * DEPOSIT_RATE), where
        if o["tax_included"]:
            assert o["tax_rate"] == VAT and o["invoice_title"] in [p["title"] for p in c["invoice_profiles"]]
        else:
            assert o["tax_rate"] == "0" and o["invoice_title"] == ""
        taken = parse_at(o["taken_at"])
        assert FIRST_DAY <= taken.date() <= LAST_DAY
        date.fromisoformat(o["promised_ship_date"])

        prev = taken
        qty = [Decimal(l["quantity"]) for l in lines]
        shipped = [Decimal(0)] * len(lines)
        paid = Decimal(0)
        invoiced = Decimal(0)
        latest_doc = None
        released_doc = None  # the doc the latest unused release covers
        cancelled = False
        archived = False
        verify_day = None
        approved = False
        pending_request = None
        decided = {}  # request index -> approved
        for j, e in enumerate(o["events"]):
            t = parse_at(e["at"])
            assert t > prev, (where, j)
            assert t <= NOW, (where, j)
            prev = t
            assert not archived, (where, "event after archive")
            assert not cancelled, (where, "event after cancel")
            k = e["kind"]
            role = {"verify": "clerk", "approve": "supervisor", "release_to_workshop": "clerk",
                    "progress": "clerk", "payment": "finance", "shipping_doc": "clerk",
                    "finance_release": "finance", "shipment": "warehouse", "invoice": "finance",
                    "cancel": "vp", "return_request": "clerk", "return_decision": "vp",
                    "return_receipt": "warehouse", "archive": "clerk"}[k]
            assert e["role"] == role, (where, k)
            if k == "verify":
                assert t.date() == taken.date(), where  # 当天核单
                verify_day = t.date()
                assert e["parties"] == ["salesperson", "customer", "workshop"]
            elif k == "approve":
                approved = True
            elif k == "release_to_workshop":
                assert t.date() == verify_day, where  # 当天下单
                assert approved, (where, "下单 needs 审核")
            elif k == "progress":
                if "revised_date" in e:
                    date.fromisoformat(e["revised_date"])
                    assert e["delay_reason"]
            elif k == "payment":
                assert is_decimal_string(e["amount"], 2) and Decimal(e["amount"]) > 0
                assert date.fromisoformat(e["date"]) <= t.date()
                assert e["bank_ref"] not in bank_refs, e["bank_ref"]
                bank_refs.add(e["bank_ref"])
                paid += Decimal(e["amount"])
                assert paid <= gross, (where, "overpaid")
            elif k == "shipping_doc":
                assert e["route"] and e["freight_payer"] and date.fromisoformat(e["ship_date"]), where
                for x in e["lines"]:
                    assert x["unit_price"] == lines[x["line"]]["unit_price"], (where, "出货单 price")
                    assert shipped[x["line"]] + Decimal(x["quantity"]) <= qty[x["line"]], where
                    assert is_decimal_string(x["unit_price"], 4)
                latest_doc = e
            elif k == "finance_release":
                assert latest_doc is not None, where
                assert all(x["unit_price"] == lines[x["line"]]["unit_price"] for x in latest_doc["lines"])
                released_doc = latest_doc
                # 货款到位: the money covers everything shipped once this document leaves.
                after = shipped[:]
                for x in latest_doc["lines"]:
                    after[x["line"]] += Decimal(x["quantity"])
                need = gross if after == qty else sum(
                    (line_amount(after[i], lines[i]["unit_price"]) for i in range(len(lines))), Decimal(0))
                assert paid >= need, (where, paid, need)
            elif k == "shipment":
                assert released_doc is not None, (where, "shipment without release")
                assert [(x["line"], x["quantity"]) for x in e["lines"]] == \
                       [(x["line"], x["quantity"]) for x in released_doc["lines"]], where
                for x in e["lines"]:
                    shipped[x["line"]] += Decimal(x["quantity"])
                    assert shipped[x["line"]] <= qty[x["line"]], (where, "over-shipped")
                assert e["carrier"] and e["waybill"] and e["cartons"] > 0
                released_doc = None  # a release covers one shipment
                latest_doc = None
            elif k == "invoice":
                assert o["tax_included"] and e["title"] == o["invoice_title"], where
                assert len(e["number"]) == 8 and e["number"].isdigit() and e["number"] not in invoice_numbers
                invoice_numbers.add(e["number"])
                invoiced += Decimal(e["amount"])
                assert invoiced <= gross
            elif k == "cancel":
                assert all(s == 0 for s in shipped), where
                cancelled = True
            elif k == "return_request":
                for x in e["lines"]:
                    assert Decimal(x["quantity"]) <= shipped[x["line"]], where
                pending_request = e
                assert e["return_kind"] in ("return", "exchange", "repair")
            elif k == "return_decision":
                assert pending_request is not None
                decided[id(pending_request)] = e["approved"]
            elif k == "return_receipt":
                assert pending_request is not None and decided.get(id(pending_request)) is True, where
                for x, y in zip(e["lines"], pending_request["lines"]):
                    assert x["line"] == y["line"] and Decimal(x["quantity"]) <= Decimal(y["quantity"])
                assert e["disposition"] in ("stock", "repair") and e["tag"].startswith("RT-")
            elif k == "archive":
                assert shipped == qty and paid == gross and invoiced == gross, (where, "archive too early")
                archived = True
    assert n_1333 >= 6, n_1333


# --------------------------------------------------------------------------------------------
# Contracts (合同)
# --------------------------------------------------------------------------------------------

# The seller, 乙方 of every contract.
SELLER = "佛山市顺德区锦华家具有限公司"
CONTRACT_TERMS = [
    "预付30%定金，余款发货前付清；质保一年，实木类五年",
    "定金30%，货到验收合格后30天内付清；运费按出货单约定",
    "月结，次月25日前付清上月货款；质保一年",
    "按工程进度付款：进场30%，安装完成60%，验收后10%；质保两年",
]
# Validity in days after signing.
CONTRACT_DAYS = [90, 120, 180, 365]


def make_contracts(customers, orders):
    """One signed contract per order that names one (drafted by the order's clerk, reviewed by
    the supervisor, approved by the VP, signed before the order was taken, filed a few days
    later), plus a few still in the workflow. A generator of its own, so the orders do not
    change when contracts do."""
    crng = random.Random(SEED + 24)
    custs = {c["ref"]: c for c in customers}
    contracts = []

    def at(day, hour, minute):
        return datetime.combine(day, time(hour, minute), TZ)

    def add(number, c, drafted, gross, steps):
        amount = (gross * Decimal(crng.choice(["1", "1.2", "1.5", "2"])) / 1000).to_integral_value(
            rounding="ROUND_CEILING") * 1000
        signed = next((e["signed_on"] for e in steps if e["kind"] == "sign"), None)
        valid_from = date.fromisoformat(signed) if signed else drafted.date() + timedelta(days=7)
        valid_to = valid_from + timedelta(days=crng.choice(CONTRACT_DAYS) - 1)
        terms = CONTRACT_TERMS[3] if c["kind"] == "project" else crng.choice(CONTRACT_TERMS[:3])
        contracts.append({
            "ref": f"K{len(contracts) + 1:04d}", "number": number, "customer_ref": c["ref"],
            "party_a": c["name"], "party_b": SELLER, "amount": money(max(amount, Decimal(1000))),
            "terms": terms, "valid_from": valid_from.isoformat(), "valid_to": valid_to.isoformat(),
            "drafted_at": drafted, "drafted_by": CLERKS[c["region"]],
            "events": [e for e in steps if e["at"] <= NOW],
        })

    def step(t, kind, user, role, **fields):
        return {"kind": kind, "at": t, "user": user, "role": role, **fields}

    last = 0
    for order in orders:
        number = order["contract"]
        if not number:
            continue
        last = max(last, int(number.rsplit("-", 1)[1]))
        c = custs[order["customer_ref"]]
        clerk = CLERKS[c["region"]]
        day = order["taken_at"].date() - timedelta(days=crng.randint(3, 8))
        drafted = at(day, 9, crng.randint(0, 59))
        signed_on = day + timedelta(days=2)
        steps = [
            step(at(day, 10, crng.randint(0, 59)), "submit", clerk, "clerk"),
            step(at(day, 14, crng.randint(0, 59)), "review", SUPERVISOR, "supervisor", approved=True),
            step(at(day + timedelta(days=1), 10, crng.randint(0, 59)), "approve", VP, "vp", approved=True),
            step(at(signed_on, 15, crng.randint(0, 59)), "sign", clerk, "clerk",
                 signed_on=signed_on.isoformat()),
            step(at(signed_on + timedelta(days=3), 9, crng.randint(0, 59)), "archive", clerk, "clerk"),
        ]
        add(number, c, drafted, order["_gross"], steps)
    # Still in the workflow at NOW: a draft, one with the supervisor, one with the VP, one
    # sent back.
    pool = [c for c in customers if c["kind"] in ("project", "dealer") and c["status"] == "active"]
    for k, stage in enumerate(["draft", "submitted", "reviewed", "rejected"]):
        c = crng.choice(pool)
        clerk = CLERKS[c["region"]]
        day = LAST_DAY - timedelta(days=3 - k // 2)
        steps = []
        if stage != "draft":
            steps.append(step(at(day, 10, 5 + k), "submit", clerk, "clerk"))
        if stage in ("reviewed", "rejected"):
            fields = {"approved": True} if stage == "reviewed" else {
                "approved": False, "reason": "付款条件未写明质保金比例，请补充后重新提交"}
            steps.append(step(at(day, 15, 20 + k), "review", SUPERVISOR, "supervisor", **fields))
        add(f"HT-2026-{last + k + 1:04d}", c, at(day, 9, 10 + k),
            Decimal(crng.randint(30, 300) * 1000), steps)
    return contracts


def validate_contracts(data):
    custs = {c["ref"] for c in data["customers"]}
    by_number = {}
    for k in data["contracts"]:
        assert k["number"] not in by_number, k["number"]
        by_number[k["number"]] = k
        assert k["customer_ref"] in custs and k["party_b"] and k["party_a"]
        assert is_decimal_string(k["amount"], 2) and Decimal(k["amount"]) > 0
        assert k["valid_from"] <= k["valid_to"]
        kinds = [e["kind"] for e in k["events"]]
        assert kinds == ["submit", "review", "approve", "sign", "archive"][:len(kinds)] \
            or kinds == ["submit", "review"], kinds
        roles = {"submit": "clerk", "review": "supervisor", "approve": "vp", "sign": "clerk",
                 "archive": "clerk"}
        assert all(e["role"] == roles[e["kind"]] for e in k["events"])
        assert [e["at"] for e in k["events"]] == sorted(e["at"] for e in k["events"])
    for o in data["orders"]:
        if o["contract"]:
            k = by_number[o["contract"]]
            assert k["customer_ref"] == o["customer_ref"], o["ref"]
            signed = [e for e in k["events"] if e["kind"] == "sign"]
            assert signed and signed[0]["at"] < o["taken_at"], o["ref"]
            assert k["valid_from"] <= o["taken_at"][:10] <= k["valid_to"], o["ref"]


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def to_json(data):
    """Pretty-prints, keeping small objects (an event, a line, a contact) on one line."""
    def dump(v, indent):
        flat = json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
        if not isinstance(v, (dict, list)) or len(flat) + indent <= 200:
            return flat
        pad = " " * (indent + 2)
        if isinstance(v, dict):
            items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {dump(x, indent + 2)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
        items = [pad + dump(x, indent + 2) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return dump(data, 0) + "\n"


def main():
    products = [{"sku": s, "name": n, "spec": sp, "unit": u, "unit_price": pr, "packing_count": pc,
                 "lead_days": ld} for s, n, sp, u, pr, pc, ld in PRODUCTS]
    customers = make_customers()
    orders = make_orders(customers)
    out_orders = []
    for o in orders:
        events = []
        for e in o["events"]:
            e = dict(e)
            e["at"] = rfc3339(e["at"])
            events.append(e)
        row = {k: v for k, v in o.items() if not k.startswith("_") and k != "events"}
        row["taken_at"] = rfc3339(o["taken_at"])
        row["events"] = events
        out_orders.append(row)
    out_complaints = []
    for k in make_complaints(customers, orders):
        events = []
        for e in k["events"]:
            e = dict(e)
            e["at"] = rfc3339(e["at"])
            events.append(e)
        k["taken_at"] = rfc3339(k["taken_at"])
        k["events"] = events
        out_complaints.append(k)
    contracts = []
    for k in make_contracts(customers, orders):
        k["drafted_at"] = rfc3339(k["drafted_at"])
        k["events"] = [dict(e, at=rfc3339(e["at"])) for e in k["events"]]
        contracts.append(k)
    data = {"products": products, "customers": customers, "orders": out_orders,
            "complaints": out_complaints, "contracts": contracts}
    validate(data)
    validate_complaints(data)
    validate_contracts(data)
    text = to_json(data)
    assert len(text.encode("utf-8")) <= MAX_BYTES, len(text.encode("utf-8"))
    sys.stdout.write(text)
    summary(data)


def summary(data):
    kinds = {}
    for o in data["orders"]:
        for e in o["events"]:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    partial = sum(1 for o in data["orders"] if sum(e["kind"] == "shipment" for e in o["events"]) >= 2)
    print(f"products {len(data['products'])}, customers {len(data['customers'])}, "
          f"contracts {len(data['contracts'])}, orders {len(data['orders'])}, "
          f"complaints {len(data['complaints'])}, "
          f"orders shipped in two parts {partial}; events: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
