# German short date as usual in DACH: 13.02.2027 (Django's default, stated here beside English).
SHORT_DATE_FORMAT = "d.m.Y"
