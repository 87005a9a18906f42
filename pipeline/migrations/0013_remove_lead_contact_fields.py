from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0012_people_from_leads")]

    operations = [
        migrations.RemoveField(model_name="organization", name="contact_email"),
        migrations.RemoveField(model_name="organization", name="contact_name"),
        migrations.RemoveField(model_name="organization", name="contact_phone"),
    ]
