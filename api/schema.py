"""Teaches drf-spectacular about the personal token scheme and the custom fields."""
from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from /api/tokens/: `Authorization: Bearer sf_…`.",
        }


class CustomFieldsSchema(OpenApiSerializerFieldExtension):
    """`custom_fields` as an object with one property per field an admin defined for that kind of
    record (read when the schema is generated, so it follows the definitions)."""

    target_class = "api.serializers.CustomFieldsField"

    def map_serializer_field(self, auto_schema, direction):
        from pipeline import custom_fields
        from pipeline.models import FieldType

        types = {
            FieldType.NUMBER: {"type": "number"},
            FieldType.MONEY: {"type": "number", "format": "decimal"},
            FieldType.DATE: {"type": "string", "format": "date"},
            FieldType.BOOLEAN: {"type": "boolean"},
            FieldType.USER: {"type": "integer", "description": "A user's id (/api/v1/users/)."},
            FieldType.URL: {"type": "string", "format": "uri"},
            FieldType.EMAIL: {"type": "string", "format": "email"},
        }
        properties = {}
        try:
            definitions = custom_fields.definitions(self.target.kind)
        except DatabaseError:  # `manage.py check` generates the schema, possibly before any migration
            definitions = []
        for field in definitions:
            if field.field_type == FieldType.CHOICE:
                schema = {"type": "string", "enum": list(field.choices)}
            elif field.field_type == FieldType.MULTI_CHOICE:
                schema = {"type": "array", "items": {"type": "string", "enum": list(field.choices)}}
            else:
                schema = dict(types.get(field.field_type, {"type": "string"}))
            schema["title"] = field.name
            description = " ".join(part for part in (schema.get("description", ""), field.help_text) if part)
            if field.field_type == FieldType.MONEY:
                description = f"{description} Currency: {field.currency or 'the default currency'}.".strip()
            if field.required:
                description = f"{description} Required.".strip()
            if description:
                schema["description"] = description
            schema["nullable"] = True
            properties[field.key] = schema
        return {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
            "description": str(self.target.help_text or ""),
        }
