"""Provisioning: the cluster side — nodes now, the cluster gateway and provisioning tasks later."""
