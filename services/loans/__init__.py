"""Loans: requests, review, schedules, bidding, disbursement.

- `requests`, `review`, `states`, `policy`, `pricing`: publishing a loan, its level
  reviews, its life (`transition()`), the platform's lending rules and pricing.
- `schedule` (+ `cost`): `build_schedule()`, the annual cost rate and its R3 cap.
- `bidding`: `place_bid()` (second-confirmed through `services.operations`), `accept()`,
  `disburse()`, `fail_listing()`; `bid_views`: `bids_of()`, `progress_stream()`;
  `autobid`: automatic bids.
- `contracting`: the contract of a full loan; `installments`: its schedule materialised
  at disbursement (`materialize()`).
"""
