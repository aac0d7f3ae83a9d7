# Drops the single-column indexes Django made for three foreign keys: composite indexes that
# lead with the same column (post_page_idx, post_reply_to_idx, like_unique / like_user_idx)
# serve every lookup and cascade, and each index costs every insert. Only the indexes go: the
# constraints stay as they are (AlterField would drop and re-validate them).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("posts_like_user_id_1d505823", "posts_like", "user_id"),
    ("posts_post_page_id_e65c3edc", "posts_post", "page_id"),
    ("posts_post_reply_to_id_9f9bbc62", "posts_post", "reply_to_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('pages', '0002_initial'),
        ('posts', '0002_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='like',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='likes', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='post',
                    name='page',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='posts', to='pages.page'),
                ),
                migrations.AlterField(
                    model_name='post',
                    name='reply_to',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replies', to='posts.post'),
                ),
            ],
        ),
    ]
