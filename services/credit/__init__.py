"""Credit (M2): verification kinds, members' materials, credit policy, lenders' risk
assessment (R4), review, score and limits.

- `catalogue`, `materials`, `review`: verification kinds, members' materials, the
  officer's review.
- `external` (+ `report_shapes`): outside sources (M2.7): `fetch()`, `signals()`,
  `get_adapter()`, `set_adapter()`.
- `scorecard`: the pure `evaluate()` under `current_policy()`; `policy`: its parameters.
- `scoring`: the profile (`reevaluate()`, `standing()`, `use_limit()`, `restore_limit()`,
  `on_installment_paid()`, `on_installment_overdue()`); `manual_limits`: the officers'
  `freeze()`, `unfreeze()`, `set_temporary_limit()`.
- `risk_questionnaire`, `risk_assessment`: R4 (`submit_assessment()`,
  `confirm_risk_notice()`, `check_lender_may_bid()`); `eligibility`, `disclosure`.
- `industry_answers`: the reverse of the industry-sharing source, a partner platform's
  question about one ID number (`answer_industry_query()`, R1).
"""
