"""The pure review-rules engine (处方审核规则): standard library only, no I/O, no clock."""
