"""Each event stores the X-Request-ID of the request that appended it (null outside a request).

A nullable column without a default: metadata only in PostgreSQL, so it applies to a populated
log at once; the existing events simply have none.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_position_marks_the_appender"),
    ]

    operations = [
        migrations.AddField(
            model_name="storedevent",
            name="request_id",
            field=models.CharField(blank=True, max_length=128, null=True),
        ),
    ]
