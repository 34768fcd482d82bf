"""The regulatory lists shipped with the workstation, behind the ``special_drug.*`` review rules."""
