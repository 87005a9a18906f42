# Stageflow's English short date: "13 Feb 2027" (unambiguous for international teams), not 02/13/2027.
SHORT_DATE_FORMAT = "j M Y"
