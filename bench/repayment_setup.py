"""Set-up for the repayment benchmarks, through the services only: loans filled by one
lender's bids, signed by their borrower, disbursed and settled at the provider (REPAYING
with their installments), and a first installment repaid. The same steps as
tests/lending.py (which bench code does not import), on top of `bench.lending_setup`.

Needs Tortoise initialised, a broker installed and the app's lifespan running with the
in-process sandbox provider (`sandbox`: `app.state.sandbox.sandbox`).
"""

from __future__ import annotations

import re
import uuid

from bench import lending_setup as setup
from models.bids import BidSource
from models.loans import Loan, LoanStatus
from models.members import User
from models.messaging import OutgoingMessage
from models.repayments import Repayment, RepaymentStatus
from services.contracts import signatures
from services.loans import bidding, contracting
from services.operations import confirmation
from services.payments.embedded import settle_until_quiet
from services.payments.sandbox import Sandbox
from services.repayments import service as repayments
from services.repayments.due import RepayMode

_CODE = re.compile(r"\b(\d{6})\b")


async def sms_code(user: User) -> str:
    """The code in the newest SMS sent to `user` (the benchmark plays their phone)."""
    message = (
        await OutgoingMessage.filter(recipient_lookup=user.phone_lookup).order_by("-id").first()
    )
    found = _CODE.search(message.body) if message is not None else None
    if found is None:
        raise RuntimeError(f"no SMS code was sent to user {user.id}")
    return found[1]


async def sign_contract(borrower: User, loan: Loan) -> None:
    """The loan contract made and signed by the borrower with the SMS code."""
    contract = await contracting.contract_for_full_loan(loan)
    actor = setup.member_actor(borrower.id)
    await signatures.request_signature(actor=actor, contract_id=contract.id)
    await signatures.sign(
        actor=actor, contract_id=contract.id, code=await sms_code(borrower), client_ip="127.0.0.1"
    )


async def repaying_loan(sandbox: Sandbox, lender_id: int, bids: int, bid_fen: int) -> Loan:
    """A new verified borrower's loan of `bids` x `bid_fen`, filled by `bids` bids of the
    lender (a claim each once disbursed), signed, disbursed and settled: REPAYING."""
    borrower = await setup.verified_borrower()
    loan = await setup.listed_loan(borrower.id, bids * bid_fen, min_bid_fen=bid_fen)
    for _ in range(bids):
        await bidding.accept(
            loan_id=loan.id, lender_id=lender_id, requested=bid_fen, source=BidSource.MANUAL
        )
    await settle_until_quiet(sandbox)
    await sign_contract(borrower, await Loan.get(id=loan.id))
    await settle_until_quiet(sandbox)
    await bidding.disburse(loan.id)  # unless the signature's event did it already
    await settle_until_quiet(sandbox)
    loan = await Loan.get(id=loan.id)
    if loan.status != LoanStatus.REPAYING:
        raise RuntimeError(f"loan {loan.id} is {loan.status}, not REPAYING")
    return loan


async def repay_first(sandbox: Sandbox, loan: Loan) -> None:
    """The borrower repays the next installment (from the disbursed money), confirmed
    with the SMS code and settled: a receipt for each claim."""
    borrower = await User.get(id=loan.borrower_id)
    actor = setup.member_actor(borrower.id)
    asked = await repayments.repay(
        actor=actor,
        loan_id=loan.id,
        mode=RepayMode.NEXT,
        idempotency_key=f"bench-repay-{uuid.uuid4().hex[:16]}",
    )
    confirmed = await confirmation.confirm_operation(
        actor=actor, operation_id=str(asked.operation_id), code=await sms_code(borrower)
    )
    done = confirmed.target
    if not isinstance(done, Repayment) or done.status != RepaymentStatus.DONE:
        raise RuntimeError(f"the repayment of loan {loan.id} was not made: {done}")
    await settle_until_quiet(sandbox)
