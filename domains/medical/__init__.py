"""The medical domain (DICOM): ``domain`` is the adapter; ``scan``, ``decode``, ``window``, ``views``,
``privacy`` and ``sample`` are its stages (see ``domain``'s docstring)."""

from sslcli.domains.medical.domain import MedicalDomain, MedicalSettings

__all__ = ["MedicalDomain", "MedicalSettings"]
