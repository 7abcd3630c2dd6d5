"""Local analytics a data team calls from chat: metric glossary and model evaluation (drift and uplift next).

Nothing here knows Teams. The heavy libraries (numpy, pandas, scikit-learn, matplotlib) are imported by
the modules that need them, never by the ingress.
"""
