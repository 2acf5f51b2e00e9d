// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice Holds prover deposits and the bonds staked from them.
///
/// Accounting model (what the escrow's token balance consists of):
///   token.balanceOf(escrow) == Σ deposits[a] + Σ stakedBonds[a]
/// `deposits[a]` is everything of `a` that is not staked ("free"), INCLUDING an amount requested for
/// withdrawal. A pending withdrawal is an earmark inside the free deposit, never a separate bucket:
///   pendingWithdrawal[a].amount <= deposits[a]   (always)
/// and only `deposits[a] - pendingWithdrawal[a].amount` may back a new bond. This way a prover cannot
/// escape a bond by racing a withdrawal against a claim: funds it asked to take out no longer count,
/// and funds that back a bond cannot be asked for until the bond is released.
///
/// Only the Rollup that created this escrow moves bonds.
contract ProofCommitmentEscrow {
    using SafeERC20 for IERC20;

    struct PendingWithdrawal {
        uint256 amount;
        uint256 executableAt; // unix seconds
    }

    IERC20 public immutable token;
    address public immutable rollup;
    /// @notice Seconds between startWithdraw and the earliest executeWithdraw. Should exceed a claim's
    /// lifetime so a prover can't announce a withdrawal after quoting and leave before being claimed.
    uint256 public immutable withdrawDelay;

    /// @notice Free (unstaked) deposit, including any amount earmarked by a pending withdrawal.
    mapping(address => uint256) public deposits;
    /// @notice Bonds currently staked for claims, per prover.
    mapping(address => uint256) public stakedBonds;
    mapping(address => PendingWithdrawal) internal _pending;

    event Deposited(address indexed account, uint256 amount, uint256 newDeposit);
    event WithdrawStarted(address indexed account, uint256 amount, uint256 executableAt);
    event WithdrawExecuted(address indexed account, uint256 amount);
    event BondStaked(address indexed prover, uint256 amount);
    event BondUnstaked(address indexed prover, uint256 amount);
    event BondSlashedTo(address indexed prover, uint256 amount, address indexed recipient);

    error NotRollup(address caller, address rollup);
    error ZeroAmount();
    error ZeroAddress();
    error WithdrawExceedsDeposit(address account, uint256 amount, uint256 deposit);
    error NoPendingWithdrawal(address account);
    error WithdrawalNotReady(address account, uint256 executableAt, uint256 nowTimestamp);
    error InsufficientAvailableDeposit(address prover, uint256 available, uint256 required);
    error InsufficientStakedBond(address prover, uint256 staked, uint256 required);

    modifier onlyRollup() {
        if (msg.sender != rollup) revert NotRollup(msg.sender, rollup);
        _;
    }

    constructor(IERC20 token_, uint256 withdrawDelay_, address rollup_) {
        if (address(token_) == address(0) || rollup_ == address(0)) revert ZeroAddress();
        token = token_;
        withdrawDelay = withdrawDelay_;
        rollup = rollup_;
    }

    // ---------------------------------------------------------------- provers

    /// @notice Pull `amount` tokens from the caller into its free deposit (needs an allowance).
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 newDeposit = deposits[msg.sender] + amount;
        deposits[msg.sender] = newDeposit;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount, newDeposit);
    }

    /// @notice Request to withdraw `amount` of the free deposit after `withdrawDelay`. Replaces any
    /// earlier request (and restarts its timer); `amount == 0` cancels a request.
    function startWithdraw(uint256 amount) external {
        uint256 free = deposits[msg.sender];
        if (amount > free) revert WithdrawExceedsDeposit(msg.sender, amount, free);
        uint256 executableAt = block.timestamp + withdrawDelay;
        if (amount == 0) {
            delete _pending[msg.sender];
            executableAt = 0;
        } else {
            _pending[msg.sender] = PendingWithdrawal(amount, executableAt);
        }
        emit WithdrawStarted(msg.sender, amount, executableAt);
    }

    /// @notice Pay out the caller's pending withdrawal once its delay has passed.
    function executeWithdraw() external {
        PendingWithdrawal memory p = _pending[msg.sender];
        if (p.amount == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < p.executableAt) revert WithdrawalNotReady(msg.sender, p.executableAt, block.timestamp);
        uint256 free = deposits[msg.sender];
        // Unreachable while the invariant pending <= deposits holds; a clear error beats a panic.
        if (p.amount > free) revert WithdrawExceedsDeposit(msg.sender, p.amount, free);
        delete _pending[msg.sender];
        deposits[msg.sender] = free - p.amount;
        token.safeTransfer(msg.sender, p.amount);
        emit WithdrawExecuted(msg.sender, p.amount);
    }

    /// @return amount requested (0 if none) and the timestamp from which it may be executed.
    function pendingWithdrawal(address account) external view returns (uint256 amount, uint256 executableAt) {
        PendingWithdrawal memory p = _pending[account];
        return (p.amount, p.executableAt);
    }

    /// @notice What may back a new bond: free deposit minus the pending withdrawal.
    function availableForBond(address account) public view returns (uint256) {
        uint256 free = deposits[account];
        uint256 pending = _pending[account].amount;
        return free > pending ? free - pending : 0;
    }

    // ---------------------------------------------------------------- rollup

    /// @notice Move `amount` from the prover's available deposit into its staked bonds.
    function stakeBond(address prover, uint256 amount) external onlyRollup {
        uint256 available = availableForBond(prover);
        if (amount > available) revert InsufficientAvailableDeposit(prover, available, amount);
        deposits[prover] -= amount;
        stakedBonds[prover] += amount;
        emit BondStaked(prover, amount);
    }

    /// @notice Return a staked bond to the prover's free deposit (the proof landed).
    function unstakeBond(address prover, uint256 amount) external onlyRollup {
        uint256 staked = stakedBonds[prover];
        if (amount > staked) revert InsufficientStakedBond(prover, staked, amount);
        stakedBonds[prover] = staked - amount;
        deposits[prover] += amount;
        emit BondUnstaked(prover, amount);
    }

    /// @notice Send a staked bond to `recipient` (the prover missed its deadline).
    function slashBond(address prover, uint256 amount, address recipient) external onlyRollup {
        uint256 staked = stakedBonds[prover];
        if (amount > staked) revert InsufficientStakedBond(prover, staked, amount);
        stakedBonds[prover] = staked - amount;
        token.safeTransfer(recipient, amount);
        emit BondSlashedTo(prover, amount, recipient);
    }
}
