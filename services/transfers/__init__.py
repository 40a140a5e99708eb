"""The secondary market (issue 20, M1.10, M9.1): a lender's claim sold in whole or in part
to another lender at a discount or premium, with the interest accrued since the last due
date paid to the seller on top and the platform's fee charged to the seller. The money
rules are pure (`pricing`); the reassignment of future receipts is the holdings split
of `services.repayments.split`. Design and definitions: docs/secondary-market.md."""
