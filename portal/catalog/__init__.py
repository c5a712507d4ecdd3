"""Catalog: the apps customers can buy and their plans."""
