// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice The token L2 fees are paid in and prover bonds are posted in. Mintable by its owner,
/// which in dev/sandbox deployments is the deployer (it funds proposers and provers).
contract FeeToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("Fee Token", "FEE") Ownable(initialOwner) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
