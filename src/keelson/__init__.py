"""keelson: provision machines, bootstrap and operate Kubernetes clusters with Ansible."""

__version__ = "0.1.0"
