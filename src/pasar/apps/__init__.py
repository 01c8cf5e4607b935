"""pasar's apps: one product capability each (taskbot, listing, disputes, vision), usable as a
library, from the CLI and from the server. Apps share code only through models/, data/, store/."""
