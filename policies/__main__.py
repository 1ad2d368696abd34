"""Entry point the Pulumi CLI runs (`python -m pulumi.policy <engine> .`): it only builds the pack."""

import pulumi
from mlpolicies import PACK_DESCRIPTION, PACK_NAME, POLICIES, enforcement_level_for
from mlpolicies.conversion import convert_once_per_call
from pulumi_policy import PolicyPack

convert_once_per_call()  # every policy reads one conversion of a resource, not its own

PolicyPack(
    PACK_NAME,
    POLICIES,
    enforcement_level=enforcement_level_for(pulumi.get_stack()),
    description=PACK_DESCRIPTION,
)
