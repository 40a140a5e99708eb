# ruff: noqa: RUF001  (Chinese text: its full-width commas are meant)
"""Demo help-centre articles (generated text, issue 22 M1.13): a few categories and
published articles so the help centre and its Chinese search have something to show.
Created once; a demo database that already has them is left as it is."""

from __future__ import annotations

from models.help import ArticleStatus, HelpCategory
from models.members import User
from services.help import articles
from services.identity.permissions import Actor

CATEGORIES = (
    ("repayment", "还款 · Repayment", "How repayments, penalties and overdue work"),
    ("lending", "出借 · Lending", "Bidding, automatic bidding and claims"),
    ("account", "账户 · Account", "Custody account, deposits and withdrawals"),
)
ARTICLES = (
    (
        "repayment",
        "overdue-repayment",
        "逾期还款怎么办 · What happens when a repayment is overdue",
        "还款日未足额还款即为逾期。逾期后每日按未还本息计收罚息，并影响信用等级。"
        "请尽快充值并在「我的借款」中还款。\n\nAn installment not paid in full on its due "
        "date is overdue: a daily penalty accrues on the unpaid principal and interest, and "
        "your credit grade is affected. Deposit and repay from My loans as soon as you can.",
    ),
    (
        "repayment",
        "early-repayment",
        "提前还款 · Repaying early",
        "可以提前归还全部或部分借款，按合同约定收取提前还款费用。\n\nYou may repay all or "
        "part of a loan early; the early-repayment fee of your contract applies.",
    ),
    (
        "lending",
        "automatic-bidding",
        "自动投标 · Automatic bidding",
        "设置利率、期限和金额规则后，新上线的借款会按排队顺序自动投标。首次开启需短信确认。"
        "\n\nSet rate, term and amount rules and newly listed loans are bid on in queue "
        "order. Turning it on the first time is confirmed by SMS.",
    ),
    (
        "account",
        "withdrawals",
        "提现到账时间 · When a withdrawal arrives",
        "T0 提现当日到账，T1 次个工作日到账，手续费以页面为准。\n\nA T0 withdrawal arrives "
        "the same day, T1 the next business day; the fee is shown before you confirm.",
    ),
)


async def seed_help(writer: User) -> int:
    """The demo categories and articles, written by `writer` (a staff user with
    help:manage); how many articles were made (0 when they exist already)."""
    if await HelpCategory.exists(slug=CATEGORIES[0][0]):
        return 0
    actor = Actor(user_id=writer.id, kind="staff")
    made: dict[str, int] = {}
    for position, (slug, name, description) in enumerate(CATEGORIES):
        category = await articles.save_category(
            actor=actor,
            category_id=None,
            slug=slug,
            name=name,
            description=description,
            position=position,
        )
        made[slug] = category.id
    for in_category, slug, title, body in ARTICLES:
        await articles.save_article(
            actor=actor,
            article_id=None,
            draft=articles.ArticleDraft(
                slug=slug,
                category_id=made[in_category],
                title=title,
                body=body,
                status=ArticleStatus.PUBLISHED,
            ),
        )
    return len(ARTICLES)
