//! ProofCommitmentEscrow and FeeToken methods of [`L1Client`].

use alloy::primitives::{Address, U256};

use crate::client::{L1Client, outcome, to_u64};
use crate::error::Result;
use crate::types::{EscrowStatus, PendingWithdrawal, TxOutcome};

impl L1Client {
    // ------------------------------------------------------------------ escrow reads

    /// Free (unstaked) deposit of `account`, including any pending withdrawal.
    pub async fn deposits(&self, account: Address) -> Result<U256> {
        let e = self.escrow();
        self.view("deposits", e.deposits(account)).await
    }

    /// The pending withdrawal of `account`, if any.
    pub async fn pending_withdrawal(&self, account: Address) -> Result<Option<PendingWithdrawal>> {
        let e = self.escrow();
        let v = self
            .view("pendingWithdrawal", e.pendingWithdrawal(account))
            .await?;
        if v.amount.is_zero() {
            return Ok(None);
        }
        Ok(Some(PendingWithdrawal {
            amount: v.amount,
            executable_at: to_u64("executableAt", v.executableAt)?,
        }))
    }

    /// Bonds of `account` staked for claims.
    pub async fn staked_bonds(&self, account: Address) -> Result<U256> {
        let e = self.escrow();
        self.view("stakedBonds", e.stakedBonds(account)).await
    }

    /// What may back a new bond: free deposit minus the pending withdrawal.
    pub async fn available_for_bond(&self, account: Address) -> Result<U256> {
        let e = self.escrow();
        self.view("availableForBond", e.availableForBond(account))
            .await
    }

    /// Everything about `account`'s escrow position and wallet balance.
    pub async fn escrow_status(&self, account: Address) -> Result<EscrowStatus> {
        Ok(EscrowStatus {
            account,
            free: self.deposits(account).await?,
            pending: self.pending_withdrawal(account).await?,
            available_for_bond: self.available_for_bond(account).await?,
            staked: self.staked_bonds(account).await?,
            wallet_balance: self.balance_of(account).await?,
            escrow_allowance: self.allowance(account, self.info.contracts.escrow).await?,
        })
    }

    // ------------------------------------------------------------------ escrow writes

    /// Deposits `amount` (needs an allowance to the escrow; see
    /// [`deposit_with_approval`](Self::deposit_with_approval)).
    pub async fn deposit(&self, amount: U256) -> Result<TxOutcome> {
        let e = self.escrow();
        let r = self.send_call("deposit", e.deposit(amount)).await?;
        Ok(outcome(&r))
    }

    /// Approves the escrow for `amount` when the allowance is lower, then deposits.
    pub async fn deposit_with_approval(&self, amount: U256) -> Result<TxOutcome> {
        let me = self.signer_address("deposit")?;
        if self.allowance(me, self.info.contracts.escrow).await? < amount {
            self.approve(self.info.contracts.escrow, amount).await?;
        }
        self.deposit(amount).await
    }

    /// Requests a withdrawal of `amount` (replaces an earlier request; 0 cancels).
    pub async fn start_withdraw(&self, amount: U256) -> Result<TxOutcome> {
        let e = self.escrow();
        let r = self
            .send_call("startWithdraw", e.startWithdraw(amount))
            .await?;
        Ok(outcome(&r))
    }

    /// Executes the pending withdrawal once its delay has passed.
    pub async fn execute_withdraw(&self) -> Result<TxOutcome> {
        let e = self.escrow();
        let r = self
            .send_call("executeWithdraw", e.executeWithdraw())
            .await?;
        Ok(outcome(&r))
    }

    // ------------------------------------------------------------------ fee token

    /// FeeToken balance of `account`.
    pub async fn balance_of(&self, account: Address) -> Result<U256> {
        let t = self.fee_token();
        self.view("balanceOf", t.balanceOf(account)).await
    }

    /// FeeToken allowance `owner → spender`.
    pub async fn allowance(&self, owner: Address, spender: Address) -> Result<U256> {
        let t = self.fee_token();
        self.view("allowance", t.allowance(owner, spender)).await
    }

    /// Approves `spender` (the Rollup for proposing, the escrow for deposits) for `amount`.
    pub async fn approve(&self, spender: Address, amount: U256) -> Result<TxOutcome> {
        let t = self.fee_token();
        let r = self
            .send_call("approve", t.approve(spender, amount))
            .await?;
        Ok(outcome(&r))
    }

    /// Mints `amount` to `to` (only the token's owner: the deployer in dev deployments).
    pub async fn mint(&self, to: Address, amount: U256) -> Result<TxOutcome> {
        let t = self.fee_token();
        let r = self.send_call("mint", t.mint(to, amount)).await?;
        Ok(outcome(&r))
    }

    /// Transfers `amount` of FeeToken to `to`.
    pub async fn transfer(&self, to: Address, amount: U256) -> Result<TxOutcome> {
        let t = self.fee_token();
        let r = self.send_call("transfer", t.transfer(to, amount)).await?;
        Ok(outcome(&r))
    }
}
